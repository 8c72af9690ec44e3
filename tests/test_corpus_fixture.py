"""The corpus fixture builds the shared speech corpus and exposes absolute paths."""
from __future__ import annotations

import wave
from pathlib import Path


def _wav_info(path: str) -> tuple[int, int, int, float]:
    with wave.open(path) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / w.getframerate()


def test_manifest_has_clips_session_and_noise(corpus):
    m = corpus.manifest
    assert m["sample_rate"] == corpus.sample_rate == 16000
    assert len(m["clips"]) >= 10
    assert len(m["sessions"]) == 1
    assert len(m["noise"]) >= 3
    assert (corpus.dir / "manifest.json").is_file()


def test_clips_are_absolute_and_well_formed(corpus):
    ids = set()
    for c in corpus.clips:
        p = Path(c["path"])
        assert p.is_absolute() and p.is_file(), p
        assert c["text"].strip() and c["voice"]
        sr, ch, width, dur = _wav_info(c["path"])
        assert (sr, ch, width) == (16000, 1, 2)
        start, end = c["speech"]
        assert 0 < start < end <= dur
        ids.add(c["id"])
    assert len(ids) == len(corpus.clips)
    first = corpus.clips[0]
    assert corpus.clip(first["id"]) == first
    # the manifest itself keeps its relative paths
    assert not Path(corpus.manifest["clips"][0]["path"]).is_absolute()


def test_session_and_noise(corpus):
    s = corpus.session
    assert Path(s["path"]).is_absolute() and Path(s["path"]).is_file()
    _, _, _, dur = _wav_info(s["path"])
    assert len(s["utterances"]) >= 5
    ends = [u["end"] for u in s["utterances"]]
    assert ends[-1] <= dur
    assert all(u["start"] < u["end"] for u in s["utterances"])
    assert s["nonspeech"]
    kinds = {n["kind"] for n in corpus.noise}
    assert "silence" in kinds
    for n in corpus.noise:
        assert Path(n["path"]).is_absolute() and Path(n["path"]).is_file()

"""`stenod transcribe` end to end: the real CLI, the bundled model, the corpus audio."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from model_fixtures import STENOD
from stenod.bench.metrics import wer

OFFLINE_WER_LIMIT = 6.0


def run_cli(args, env, **kw):
    return subprocess.run(STENOD + args, env=env, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def corpus_run(offline_results):
    return offline_results


def test_corpus_clips_wer(corpus, corpus_run):
    hyps = [corpus_run[c["path"]]["text"] for c in corpus.clips]
    score = wer([c["text"] for c in corpus.clips], hyps)
    print(f"offline WER on {len(hyps)} clips: {score:.2f} %")
    assert score <= OFFLINE_WER_LIMIT


def test_noise_files_give_empty_text(corpus, corpus_run):
    for n in corpus.noise:
        assert corpus_run[n["path"]]["text"] == "", n["kind"]


def test_json_fields(corpus, corpus_run):
    r = corpus_run[corpus.clips[0]["path"]]
    assert set(r) == {"path", "text", "duration_s", "elapsed_s", "model", "device"}
    assert r["model"] == "bundled:tiny.en" and r["device"] == "cpu"
    assert r["duration_s"] > 1.0 and r["elapsed_s"] > 0


def test_bad_inputs_are_reported_and_the_rest_still_transcribed(corpus, stenod_env, bundled_model, tmp_path):
    clip = corpus.clips[1]
    audio, rate = sf.read(clip["path"], dtype="float32")
    stereo = tmp_path / "stereo44k.flac"
    n = int(len(audio) * 44100 / rate)
    resampled = np.interp(np.arange(n) * rate / 44100, np.arange(len(audio)), audio)
    sf.write(stereo, np.stack([resampled, resampled], axis=1), 44100)
    garbage = tmp_path / "notes.wav"
    garbage.write_text("this is not audio\n")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    odd = tmp_path / "data.xyz"
    odd.write_bytes(bytes(range(256)) * 10)
    missing = tmp_path / "missing.wav"
    out = run_cli(["transcribe", "--model", "bundled:tiny.en", "--json", str(missing), str(garbage), str(stereo),
                   str(empty), str(odd), "-"], stenod_env, stdin=open(clip["path"], "rb"))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("stenod: error:")]
    assert len(errors) == 4, out.stderr
    assert any("missing.wav: no such file" in e for e in errors)
    assert any("notes.wav: not a readable audio file" in e for e in errors)
    assert any("empty.wav: contains no audio" in e for e in errors)
    assert any("data.xyz" in e for e in errors)
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["path"] for r in results] == [str(stereo), "-"]
    for r in results:
        assert wer([clip["text"]], [r["text"]]) <= 20.0, r


def test_default_model_falls_back_offline_with_one_warning(corpus, stenod_env, bundled_model):
    out = run_cli(["transcribe", corpus.clips[2]["path"]], stenod_env)
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if "falling back" in line]
    assert len(warnings) == 1, out.stderr
    assert "distil-whisper/distil-medium.en" in warnings[0] and "bundled:tiny.en" in warnings[0]
    assert wer([corpus.clips[2]["text"]], [out.stdout]) <= 20.0


@pytest.mark.parametrize("model,message", [("nobody/no-such-whisper", "cannot load nobody/no-such-whisper"),
                                           ("/no/such/dir", "not a transformers model directory"),
                                           ("bundled:large-v9", "unknown bundled model")])
def test_explicit_model_never_falls_back(corpus, stenod_env, model, message):
    out = run_cli(["transcribe", "--model", model, corpus.clips[0]["path"]], stenod_env)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "falling back" not in out.stderr
    assert message in out.stderr
    assert out.stdout == ""

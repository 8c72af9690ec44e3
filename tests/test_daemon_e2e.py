"""The live daemon end to end: real model, real corpus audio, real ZeroMQ, subscribers in other processes."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
import soundfile as sf

from conftest import free_endpoint
from daemon_helpers import Recorder, overlaps, run_to_end, start_daemon
from model_fixtures import STENOD
from stenod.bench.metrics import wer

SPEED = 1.25  # close to real time, so partials and early finals behave as they do live
TOPICS = {"partial": "stenod.v1.transcript.partial", "final": "stenod.v1.transcript.final",
          "speech.start": "stenod.v1.speech.start", "speech.end": "stenod.v1.speech.end",
          "status": "stenod.v1.status", "heartbeat": "stenod.v1.heartbeat"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture(scope="module")
def session_run(corpus, stenod_env, bundled_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("session")
    events, stderr = run_to_end(stenod_env, tmp, "--source", f"file:{corpus.session['path']}",
                                "--speed", str(SPEED), "--exit-at-end")
    return {"events": events, "stderr": stderr}


def utterances(corpus):
    return corpus.session["utterances"]


def finals_by_utterance(corpus, events):
    finals = [e for e in events if e["type"] == "final" and e["text"]]
    matched = []
    for u in utterances(corpus):
        matched.append([f for f in finals if overlaps(f["audio"]["start_ms"] / 1000, f["audio"]["end_ms"] / 1000,
                                                     u["start"], u["end"])])
    return finals, matched


def test_envelope_and_sequence(session_run):
    events = session_run["events"]
    assert events, "no events received"
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq must rise by one with no gaps"
    assert len({e["session"] for e in events}) == 1
    for e in events:
        assert e["v"] == 1 and e["_topic"] == TOPICS[e["type"]]
        assert RFC3339.match(e["t_wall"]) and e["t_mono_ns"] > 0
    assert any(e["type"] == "heartbeat" for e in events)


def test_exactly_one_final_per_utterance(corpus, session_run):
    finals, matched = finals_by_utterance(corpus, session_run["events"])
    for u, fs in zip(utterances(corpus), matched):
        assert len(fs) == 1, f"utterance {u['text']!r} got {len(fs)} finals"
    assert len(finals) == len(utterances(corpus)), "a final matches no utterance, or merges two"


def test_streaming_wer_close_to_offline(corpus, session_run, offline_results):
    _, matched = finals_by_utterance(corpus, session_run["events"])
    refs = [u["text"] for u in utterances(corpus)]
    streamed = wer(refs, [" ".join(f["text"] for f in fs) for fs in matched])
    by_text = {c["text"]: c["path"] for c in corpus.clips}
    offline = wer(refs, [offline_results[by_text[r]]["text"] for r in refs])
    print(f"streaming WER {streamed:.2f} %, offline WER on the same clips {offline:.2f} %")
    assert streamed <= offline + 2.0


def test_no_words_in_nonspeech(corpus, session_run):
    for e in session_run["events"]:
        if e["type"] not in ("partial", "final") or not e["text"]:
            continue
        a0, a1 = e["audio"]["start_ms"] / 1000, e["audio"]["end_ms"] / 1000
        assert any(overlaps(a0, a1, u["start"], u["end"]) for u in utterances(corpus)), \
            f"words published outside any utterance: {e['text']!r} at {a0:.2f}-{a1:.2f} s"


def test_partials_before_finals_and_stable_prefix(session_run):
    """Partials come before finals (all of them when the CPU keeps up; when the worker falls
    behind, a whole utterance can be queued and is decoded once, straight to its final), revisions
    rise, and what a partial calls stable stays in every later partial."""
    events = session_run["events"]
    ready = next(e for e in events if e["type"] == "status" and e["state"] == "ready")
    finals = [e for e in events if e["type"] == "final" and e["text"]]
    with_partials = 0
    for f in finals:
        partials = [e for e in events if e["type"] == "partial" and e["utt"] == f["utt"] and e["seq"] < f["seq"]]
        if partials or f["timings"]["speech_end_mono_ns"] < ready["t_mono_ns"]:
            with_partials += 1  # (spoken entirely while the model loaded: straight to the final)
        revs = [p["rev"] for p in partials] + [f["rev"]]
        assert revs == sorted(set(revs))
        for p in partials:
            for later in [q for q in partials if q["seq"] > p["seq"]]:
                assert later["text"][:p["stable_len"]] == p["text"][:p["stable_len"]]
        assert f["stable_len"] == len(f["text"])
    assert with_partials >= 0.9 * len(finals), f"{with_partials} of {len(finals)} finals had partials"


def test_final_timings(session_run):
    finals = [e for e in session_run["events"] if e["type"] == "final"]
    for f in finals:
        t = f["timings"]
        assert t["speech_start_ms"] < t["speech_end_ms"] and t["inference_ms"] > 0
        assert t["endpoint_mono_ns"] >= t["speech_end_mono_ns"]
        assert f["t_mono_ns"] >= t["endpoint_mono_ns"]
        assert f["model"] == "bundled:tiny.en"


def test_speech_during_model_load_is_transcribed(corpus, session_run):
    """Capture starts before the model is loaded: the first utterance (1 s into the file) is kept."""
    events = session_run["events"]
    ready = next(e for e in events if e["type"] == "status" and e["state"] == "ready")
    first = min((e for e in events if e["type"] == "final" and e["text"]), key=lambda e: e["seq"])
    origin = first["timings"]["stream_origin_mono_ns"]
    u0 = utterances(corpus)[0]
    assert origin + u0["start"] / SPEED * 1e9 < ready["t_mono_ns"], "model loaded before any speech: not a test"
    assert wer([u0["text"]], [first["text"]]) <= 25.0


def test_stdin_source_noise_files_publish_nothing(corpus, stenod_env, bundled_model, tmp_path):
    """Raw s16le on stdin (`--source -`), all noise files back to back: no words at all."""
    pcm = []
    for n in corpus.noise:
        audio, rate = sf.read(n["path"], dtype="int16")
        assert rate == 16000
        pcm += [audio, np.zeros(8000, np.int16)]
    raw = tmp_path / "noise.raw"
    raw.write_bytes(np.concatenate(pcm).astype("<i2").tobytes())
    events, ctl = free_endpoint(tmp_path, "ev"), free_endpoint(tmp_path, "ctl")
    rec = Recorder(events, tmp_path / "noise.jsonl")
    with open(raw, "rb") as stdin:
        daemon = start_daemon(stenod_env, events, ctl, "--source", "-", "--exit-at-end", stdin=stdin)
        _, stderr = daemon.communicate(timeout=300)
    rec.wait_for(lambda rows: any(r["type"] == "status" and r["state"] == "stopped" for r in rows), 10)
    rec.stop()
    assert daemon.returncode == 0, stderr
    worded = [e for e in rec.events(("partial", "final")) if e["text"].strip()]
    assert worded == [], worded


def test_bad_source_and_config_are_clear_errors(stenod_env, tmp_path):
    cases = [(["--source", "file:/no/such.wav"], "no such file"),
             (["--source", "mic:no-such-device-xyz"], "see `stenod devices`"),
             (["--set", "vad.hangover_ms=abc"], "hangover_ms"),
             (["--set", "nosuch.key=1"], "nosuch")]
    for args, message in cases:
        events, ctl = free_endpoint(tmp_path, "e"), free_endpoint(tmp_path, "c")
        out = subprocess.run(STENOD + ["run", "--events", events, "--control", ctl, *args],
                             env=stenod_env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr and message in out.stderr, (args, out.stderr)
    bad = tmp_path / "config.toml"
    bad.write_text("[vad]\nhangover = 200\n")
    out = subprocess.run(STENOD + ["run", "--config", str(bad)], env=stenod_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "hangover" in out.stderr and "Traceback" not in out.stderr

"""Several streams in one daemon, end to end: real model, corpus clips, real ZeroMQ, real
PulseAudio; every final on the right stream with the right text, per-stream utterance numbers,
`status`, `tail --stream`, and `export` labels from the journal."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from conftest import free_endpoint
from daemon_helpers import Recorder, control, run_to_end, start_daemon, wait_ready
from model_fixtures import STENOD
from stenod.bench.metrics import wer
from stream_fixtures import make_recording, two_sinks  # noqa: F401

WER_BOUND = 25.0  # tiny.en on these clips: about 5-10 %; another stream's text scores far above 60


def finals_of(events, stream):
    return [e for e in events if e["type"] == "final" and e.get("stream") == stream and e["text"]]


def check_streams(events, recordings):
    """Every stream got its own text, with its own utterance numbers from 1."""
    for label, rec in recordings.items():
        finals = finals_of(events, label)
        assert [f["utt"] for f in finals] == list(range(1, len(rec.texts) + 1)), [(f["utt"], f["text"]) for f in finals]
        text = " ".join(f["text"] for f in finals)
        assert wer([" ".join(rec.texts)], [text]) <= WER_BOUND, (label, text)
        for other, orec in recordings.items():  # no cross-talk: nothing of the other stream's words
            if other != label:
                assert wer([" ".join(orec.texts)], [text]) > 60.0, (label, text)
        starts = [e["utt"] for e in events if e["type"] == "speech.start" and e.get("stream") == label]
        assert starts == list(range(1, len(rec.texts) + 1))


@pytest.fixture(scope="module")
def file_streams(corpus, stenod_env, bundled_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("streams")
    tmp.chmod(0o700)
    recordings = {"me": make_recording(corpus, [0, 3], tmp / "me.wav"),
                  "them": make_recording(corpus, [5, 8], tmp / "them.wav")}
    env = {**stenod_env, "XDG_STATE_HOME": str(tmp / "state")}
    events_ep, ctl = free_endpoint(tmp, "events"), free_endpoint(tmp, "control")
    rec = Recorder(events_ep, tmp / "events.jsonl")
    tails = {name: subprocess.Popen(STENOD + ["tail", "--events", events_ep, "--control", ctl, *extra], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for name, extra in (("them", ["--stream", "them"]), ("all", []))}
    daemon = start_daemon(env, events_ep, ctl, "--source", f"me=file:{recordings['me'].path}",
                          "--source", f"them=file:{recordings['them'].path}", "--exit-at-end")
    try:
        status = wait_ready(env, ctl)
        _, stderr = daemon.communicate(timeout=300)
        assert daemon.returncode == 0, stderr
        rec.wait_for(lambda rows: any(r["type"] == "status" and r["state"] == "stopped" for r in rows), 10)
        outputs = {}
        for name, tail in tails.items():
            tail.send_signal(signal.SIGTERM)
            outputs[name] = tail.communicate(timeout=30)[0]
    finally:
        for p in (daemon, *tails.values()):
            p.kill()
        rec.stop()
    return {"events": rec.events(), "recordings": recordings, "status": status, "tails": outputs, "env": env}


def test_two_file_streams_keep_their_text_apart(file_streams):
    check_streams(file_streams["events"], file_streams["recordings"])


def test_status_lists_the_streams(file_streams):
    status = file_streams["status"]
    assert [s["label"] for s in status["streams"]] == ["me", "them"]
    for s, label in zip(status["streams"], ("me", "them")):
        assert s["source"] == f"file:{file_streams['recordings'][label].path}"
        assert s["state"] in ("capturing", "ended") and set(s["counters"]) >= {"utterances", "finals", "overruns"}
    assert status["source"].startswith("me=file:")


def test_tail_shows_one_stream_or_labels_them(file_streams):
    events, tails = file_streams["events"], file_streams["tails"]
    them = [f["text"].strip() for f in finals_of(events, "them")]
    assert tails["them"].splitlines() == them
    labelled = tails["all"].splitlines()
    assert sorted(labelled) == sorted([f"[them] {t}" for t in them]
                                      + [f"[me] {f['text'].strip()}" for f in finals_of(events, "me")])


def test_export_labels_lines_with_the_stream(file_streams):
    env, events = file_streams["env"], file_streams["events"]
    txt = subprocess.run(STENOD + ["export", "--txt"], env=env, capture_output=True, text=True, timeout=30)
    assert txt.returncode == 0, txt.stderr
    lines = txt.stdout.splitlines()
    assert len(lines) == len([e for e in events if e["type"] == "final" and e["text"]])
    for label in ("me", "them"):
        assert sum(f"] [{label}] " in line for line in lines) == len(finals_of(events, label))
    vtt = subprocess.run(STENOD + ["export", "--vtt"], env=env, capture_output=True, text=True, timeout=30)
    assert vtt.stdout.count("<v them>") == len(finals_of(events, "them"))
    srt = subprocess.run(STENOD + ["export", "--srt"], env=env, capture_output=True, text=True, timeout=30)
    assert srt.stdout.count("\n[me] ") == len(finals_of(events, "me"))


def test_two_pulseaudio_sources_at_once(pulse, two_sinks, corpus, stenod_env, bundled_model, tmp_path):  # noqa: F811
    """Two streams from the monitors of two sinks, each playing a different recording at the same time."""
    tmp_path.chmod(0o700)
    recordings = {"me": make_recording(corpus, [1, 4], tmp_path / "me.wav"),
                  "them": make_recording(corpus, [6, 9], tmp_path / "them.wav")}
    env = {**stenod_env, **pulse.env, "XDG_STATE_HOME": str(tmp_path / "state")}
    events_ep, ctl = free_endpoint(tmp_path, "events"), free_endpoint(tmp_path, "control")
    rec = Recorder(events_ep, tmp_path / "events.jsonl")
    me_sink, them_sink = two_sinks
    daemon = start_daemon(env, events_ep, ctl, "--source", f"me=monitor:{me_sink}",
                          "--source", f"them=monitor:{them_sink}")
    try:
        wait_ready(env, ctl)
        players = [subprocess.Popen(["paplay", f"--device={sink}", str(recordings[label].path)], env=pulse.environ())
                   for label, sink in (("me", me_sink), ("them", them_sink))]
        for p in players:
            assert p.wait(timeout=60) == 0
        rows = rec.wait_for(lambda rows: all(len(finals_of(rows, label)) >= 2 for label in recordings), 120)
        status = json.loads(control(env, ctl, "status").stdout)
        assert [s["source"] for s in status["streams"]] == [f"monitor:{me_sink}", f"monitor:{them_sink}"]
        # each stream records its own sink's monitor (not the default source)
        index = {line.split("\t")[1]: line.split("\t")[0]
                 for line in pulse.pactl("list", "short", "sources").splitlines()}
        recording = [line.split("\t")[1] for line in pulse.pactl("list", "short", "source-outputs").splitlines()]
        assert index[f"{me_sink}.monitor"] in recording and index[f"{them_sink}.monitor"] in recording, recording
        check_streams(rows, recordings)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.communicate(timeout=30)
        finally:
            daemon.kill()
            rec.stop()


def test_the_same_audio_on_two_streams_is_decoded_in_one_batch_with_the_same_text(corpus, stenod_env, bundled_model,
                                                                                 tmp_path):
    """Two streams of one recording: their decodes fall due together and run as one batch
    (`timings.batch_size`), and batched greedy decoding gives each the same text."""
    tmp_path.chmod(0o700)
    rec = make_recording(corpus, [2, 7], tmp_path / "same.wav")
    events, _ = run_to_end(stenod_env, tmp_path, "--source", f"a=file:{rec.path}", "--source", f"b=file:{rec.path}",
                           "--exit-at-end")
    a, b = finals_of(events, "a"), finals_of(events, "b")
    assert [f["utt"] for f in a] == [f["utt"] for f in b] == [1, 2]
    assert [f["text"] for f in a] == [f["text"] for f in b]
    assert any(f["timings"]["batch_size"] == 2 for f in a + b), [f["timings"]["batch_size"] for f in a + b]
    assert wer([" ".join(rec.texts)], [" ".join(f["text"] for f in a)]) <= WER_BOUND

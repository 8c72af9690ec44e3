"""The microphone path on a real PulseAudio: latencies the daemon reports agree with the playback
clock, and capture survives the sound server being killed and started again."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from capture_fixtures import cold_pulse, own_pulse  # noqa: F401
from conftest import free_endpoint
from daemon_helpers import Recorder, control, start_daemon, wait_ready
from stenod.audio import load_audio
from model_fixtures import STENOD
from stenod.bench.metrics import wer

# Plays a WAV into the sink named by PULSE_SINK and prints the monotonic time its sample 0 reached
# the sink (stenod's Player: the sink's own clock), in a child so the sound server's environment is
# its own.
PLAY = """
import json, sys, time
import numpy as np
from stenod.audio import load_audio
from stenod.bench.playback import Player
pcm = (np.clip(load_audio(sys.argv[1]), -1, 1) * 32767).astype(np.int16)
with Player() as p:
    time.sleep(0.3)
    p.play(pcm)
    p.done.wait(len(pcm) / 16000 + 30)
    time.sleep(0.3)
    print(json.dumps({"end_ns": p.played_ns(int(float(sys.argv[2]) * 16000))}))
"""


def play(env: dict, path: str, at_s: float) -> int:
    """Play `path`; when its second `at_s` reached the sink."""
    out = subprocess.run([sys.executable, "-c", PLAY, path, str(at_s)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["end_ns"]


def finals(rows):
    return [r for r in rows if r["type"] == "final" and r["text"]]


@dataclass
class Live:
    env: dict
    ctl: str
    rec: Recorder
    daemon: subprocess.Popen
    stderr: str = ""  # once stopped


@contextmanager
def live_daemon(pulse_env: dict, stenod_env: dict, tmp_path, source: str):
    """A daemon capturing `source` on the given sound server, ready; stopped (SIGTERM) after."""
    env = {**stenod_env, **pulse_env, "XDG_STATE_HOME": str(tmp_path / "state")}
    events, ctl = free_endpoint(tmp_path, "events"), free_endpoint(tmp_path, "control")
    live = Live(env, ctl, Recorder(events, tmp_path / "events.jsonl"), start_daemon(env, events, ctl, "--source", source))
    try:
        wait_ready(env, ctl)
        yield live
    finally:
        live.daemon.terminate()
        live.stderr = live.daemon.communicate(timeout=30)[1]
        live.rec.stop()


def speech_end_s(path: str) -> float:
    """Where the clip's speech really ends (last 10 ms frame above -40 dBFS)."""
    x = load_audio(path)
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    loud = np.flatnonzero(20 * np.log10(np.sqrt(np.mean(frames ** 2, axis=1)) + 1e-9) > -40)
    return (loud[-1] + 1) * 160 / 16000


def test_mic_latencies_agree_with_the_playback_clock(cold_pulse, corpus, stenod_env, bundled_model, tmp_path):
    """The first audio block comes late (the sink renders in 2 s blocks until a low-latency stream
    plays): the daemon's timeline must not start when the stream was opened."""
    with live_daemon(cold_pulse.env, stenod_env, tmp_path, "mic") as live:
        env, ctl, rec = live.env, live.ctl, live.rec
        measured, reported = [], []
        for clip in corpus.clips[1:3]:
            before = len(finals(rec.events()))
            truth_end = play(env, clip["path"], speech_end_s(clip["path"]))
            rec.wait_for(lambda rows: len(finals(rows)) > before, 30)
            time.sleep(1.0)  # a second final would be a split utterance
            new = finals(rec.events())[before:]
            assert len(new) == 1, [(f["text"], f["audio"]) for f in new]
            final = new[0]
            assert wer([clip["text"]], [final["text"]]) <= 20.0, final["text"]
            measured.append((final["_recv_mono_ns"] - truth_end) / 1e6)
            reported.append((final["t_mono_ns"] - final["timings"]["speech_end_mono_ns"]) / 1e6)
        status = json.loads(control(env, ctl, "status").stdout)
    for m, r in zip(measured, reported):
        assert abs(m - r) < 150, (measured, reported)
    p50 = status["latency_ms"]["final"]["p50"]
    assert min(measured) - 150 < p50 < max(measured) + 150, (p50, measured)


def test_capture_recovers_when_the_sound_server_restarts(own_pulse, corpus, stenod_env, bundled_model, tmp_path):
    """Kill PulseAudio in the middle of an utterance: that utterance is finalised with the audio it
    had, a status event reports the gap, and capture is back within 3 s of the server."""
    with live_daemon(own_pulse.env, stenod_env, tmp_path, "mic") as live:
        env, ctl, rec, daemon = live.env, live.ctl, live.rec, live.daemon
        cut = corpus.clips[4]
        player = own_pulse.play(cut["path"], wait=False)
        time.sleep(1.2 + speech_end_s(cut["path"]) * 0.5)  # into the speech
        killed = time.monotonic_ns()
        own_pulse.kill()
        player.wait(10)
        rows = rec.wait_for(lambda rows: finals(rows), 30)  # finalised while the server is away
        (first,) = finals(rows)
        assert first["text"].split() and wer([cut["text"]], [first["text"]]) < 100.0
        time.sleep(1.0)
        own_pulse.start()
        back = time.monotonic_ns()
        gaps = lambda rows: [r["detail"]["audio_gap"] for r in rows if r["type"] == "status" and "audio_gap" in r["detail"]]  # noqa: E731
        rows = rec.wait_for(lambda rows: any(g["end_mono_ns"] for g in gaps(rows)), 10)
        start, end = gaps(rows)
        assert start["end_mono_ns"] is None and start["start_mono_ns"] == end["start_mono_ns"]
        assert abs(end["start_mono_ns"] - killed) < 1.5e9
        assert end["end_mono_ns"] - back < 3e9 and end["duration_ms"] > 1000
        clip = corpus.clips[6]
        own_pulse.play(clip["path"])
        rows = rec.wait_for(lambda rows: len(finals(rows)) > 1, 30)
        assert wer([clip["text"]], [finals(rows)[1]["text"]]) <= 20.0, finals(rows)[1]["text"]
        status = json.loads(control(env, ctl, "status").stdout)
        assert status["state"] == "ready" and status["counters"]["audio_gaps"] == 1
        assert daemon.poll() is None
    assert daemon.returncode == 0, live.stderr


def test_bench_via_mic_measures_from_the_playback_clock(pulse, corpus, stenod_env, bundled_model, tmp_path):
    from stenod.bench.corpus import load_corpus, write_subset
    from stenod.bench.report import schema_errors

    sub = write_subset(load_corpus(corpus.dir), tmp_path / "corpus", clips=1, utterances=2, noise=["silence"])
    env = {**stenod_env, **pulse.env}
    out = subprocess.run(STENOD + ["bench", str(sub), "--model", "bundled:tiny.en", "--skip-offline", "--via-mic",
                                   "--idle-s", "2", "--json", str(tmp_path / "b.json")],
                         env=env, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr
    r = json.loads((tmp_path / "b.json").read_text())
    assert schema_errors(r) == [] and r["via_mic"] is True
    s = r["streaming"]
    assert s["latency_clock"] == "playback" and s["utterances"] == 2 and s["missing"] == 0, r["details"]
    assert s["wer"] <= 30 and s["merged"] == 0 and s["split"] == 0
    assert 100 < s["final_latency_ms"]["p50"] <= s["final_latency_ms"]["max"] < 5000
    assert "via a microphone" in out.stdout
    assert "stenod-bench" not in pulse.pactl("list", "short", "sinks")  # the virtual sink is gone again


def test_bench_via_mic_without_a_sound_server_is_a_clear_error(corpus, stenod_env, tmp_path):
    env = {**stenod_env, "PULSE_SERVER": f"unix:{tmp_path}/none", "XDG_RUNTIME_DIR": str(tmp_path)}
    out = subprocess.run(STENOD + ["bench", str(corpus.dir), "--skip-offline", "--via-mic"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "is a PulseAudio/PipeWire server running?" in out.stderr, out.stderr


def test_monitor_source_transcribes_what_the_desktop_plays(pulse, corpus, stenod_env, bundled_model, tmp_path):
    pulse_env = {**pulse.env, "PULSE_SOURCE": "no-such-source"}
    with live_daemon(pulse_env, stenod_env, tmp_path, "monitor") as live:
        env, ctl, rec = live.env, live.ctl, live.rec
        clip = corpus.clips[5]
        pulse.play(clip["path"])  # into the default output, vsink
        rows = rec.wait_for(lambda rows: finals(rows), 30)
        assert wer([clip["text"]], [finals(rows)[0]["text"]]) <= 20.0, finals(rows)[0]["text"]
        assert json.loads(control(env, ctl, "status").stdout)["source"] == "monitor"
        # recorded from the output's monitor itself, not from the default source (vmic, fed by it)
        index = {line.split("\t")[1]: line.split("\t")[0]
                 for line in pulse.pactl("list", "short", "sources").splitlines()}
        recording = [line.split("\t")[1] for line in pulse.pactl("list", "short", "source-outputs").splitlines()]
        assert index["vsink.monitor"] in recording and index["vmic"] not in recording, recording


def test_monitor_source_errors_are_clear(pulse, stenod_env, tmp_path):
    cases = [({**pulse.env}, "monitor:no-such-sink", "no output named 'no-such-sink'; outputs: vsink"),
             ({"PULSE_SERVER": f"unix:{tmp_path}/none", "XDG_RUNTIME_DIR": str(tmp_path)}, "monitor",
              "needs a PulseAudio or PipeWire server")]
    for extra, source, message in cases:
        events, ctl = free_endpoint(tmp_path, "events"), free_endpoint(tmp_path, "control")
        out = subprocess.run(STENOD + ["run", "--model", "bundled:tiny.en", "--source", source, "--events", events,
                                       "--control", ctl], env={**stenod_env, **extra}, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 2 and message in out.stderr, out.stderr

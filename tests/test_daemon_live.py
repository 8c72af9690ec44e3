"""The daemon on a real (virtual) microphone, with real clients: `stenod tail`, the control commands,
a late subscriber, a restart, and abuse of the control socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest
import zmq

from conftest import free_endpoint
from daemon_helpers import Recorder, control, start_daemon, wait_ready
from model_fixtures import STENOD
from stenod.bench.metrics import wer


class Live:
    def __init__(self, env, events, ctl, rec, proc, notify):
        self.env, self.events, self.ctl, self.rec, self.proc, self.notify = env, events, ctl, rec, proc, notify


@pytest.fixture(scope="module")
def live(pulse, stenod_env, bundled_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    events, ctl = free_endpoint(tmp, "events"), free_endpoint(tmp, "control")
    notify_path = str(tmp / "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    env = {**stenod_env, **pulse.env, "NOTIFY_SOCKET": notify_path, "XDG_STATE_HOME": str(tmp / "state")}
    rec = Recorder(events, tmp / "events.jsonl")
    proc = start_daemon(env, events, ctl, "--source", "mic")
    try:
        wait_ready(env, ctl)
        yield Live(env, events, ctl, rec, proc, notify)
    finally:
        if proc.poll() is None:
            proc.kill()
        rec.stop()
        notify.close()


def finals(rows):
    return [r for r in rows if r["type"] == "final" and r["text"]]


def test_ready_is_notified_to_systemd(live):
    live.notify.settimeout(5)
    messages = []
    while not any(m.startswith("READY=1") for m in messages):
        messages.append(live.notify.recv(4096).decode())
    assert any("STATUS=loading" in m for m in messages)


def speak(live, pulse, clip) -> dict:
    """Play `clip` into the microphone; its final (each test stands alone: no order needed)."""
    before = len(finals(live.rec.events()))
    pulse.play(clip["path"])
    rows = live.rec.wait_for(lambda rows: len(finals(rows)) > before, 30)
    (final,) = finals(rows)[before:]
    return final


def test_microphone_speech_becomes_a_final(live, pulse, corpus):
    clip = corpus.clips[3]
    final = speak(live, pulse, clip)
    assert wer([clip["text"]], [final["text"]]) <= 20.0, final["text"]
    partials = [r for r in live.rec.events() if r["type"] == "partial" and r["utt"] == final["utt"]]
    assert partials and partials[0]["seq"] < final["seq"]
    status = json.loads(control(live.env, live.ctl, "status").stdout)
    assert status["counters"]["finals"] == len(live.rec.events(("final",))) and status["source"] == "mic"
    assert status["latency_ms"]["final"]["p50"] is not None


def test_late_subscriber_catches_up_with_snapshot(live, pulse, corpus):
    """`stenod tail` started after the final was published still shows it (Clone pattern)."""
    if not finals(live.rec.events()):
        speak(live, pulse, corpus.clips[3])
    tail = subprocess.Popen(STENOD + ["tail", "--json", "--events", live.events, "--control", live.ctl],
                            env=live.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = tail.stdout.readline()
        event = json.loads(line)
        assert event["type"] == "final" and event["text"] == finals(live.rec.events())[0]["text"]
    finally:
        tail.send_signal(signal.SIGINT)
        assert tail.wait(timeout=10) == 0


def test_pause_discards_audio_and_resume_listens_again(live, pulse, corpus):
    out = control(live.env, live.ctl, "pause")
    assert out.returncode == 0 and json.loads(out.stdout)["state"] == "paused"
    before = len(finals(live.rec.events()))
    pulse.play(corpus.clips[5]["path"])
    time.sleep(1.0)
    assert len(finals(live.rec.events())) == before
    out = control(live.env, live.ctl, "resume")
    assert json.loads(out.stdout)["state"] == "ready"
    final = speak(live, pulse, corpus.clips[6])
    assert wer([corpus.clips[6]["text"]], [final["text"]]) <= 20.0


@pytest.mark.parametrize("payload,error", [
    (b"{not json", "JSON"),
    (b'{"cmd": "make-coffee"}', "unknown command"),
    (b'["status"]', "object"),
    (b'{"cmd": "status", "pad": "' + b"x" * 200_000 + b'"}', "large"),
])
def test_malformed_control_requests_get_error_replies(live, payload, error):
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(live.ctl)
    try:
        sock.send(payload)
        assert sock.poll(5000), "no reply"
        reply = json.loads(sock.recv())
    finally:
        sock.close()
    assert reply["ok"] is False and error.lower() in reply["error"].lower()
    assert json.loads(control(live.env, live.ctl, "status").stdout)["state"] == "ready"


def test_second_daemon_on_the_same_endpoints_is_refused(live):
    out = subprocess.run(STENOD + ["run", "--model", "bundled:tiny.en", "--source", "mic", "--events", live.events,
                                   "--control", live.ctl], env=live.env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "already running" in out.stderr


def test_restart_is_seen_by_tail_as_a_new_session(live, tmp_path):
    tail = subprocess.Popen(STENOD + ["tail", "--events", live.events, "--control", live.ctl, "--history", "0"],
                            env=live.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        old = json.loads(control(live.env, live.ctl, "status").stdout)["session"]
        time.sleep(1.5)
        live.proc.kill()  # a crash: no goodbye
        live.proc.wait(timeout=10)
        live.proc = start_daemon(live.env, live.events, live.ctl, "--source", "mic")
        new = wait_ready(live.env, live.ctl)["session"]
        assert new != old
        deadline = time.monotonic() + 20
        seen = ""
        os.set_blocking(tail.stderr.fileno(), False)
        while "restarted" not in seen and time.monotonic() < deadline:
            seen += tail.stderr.read() or ""
            time.sleep(0.2)
        assert "restarted" in seen and new[:8] in seen, seen
    finally:
        tail.send_signal(signal.SIGINT)
        assert tail.wait(timeout=10) == 0


def test_stop_finishes_cleanly(live):
    out = control(live.env, live.ctl, "stop")
    assert out.returncode == 0
    assert live.proc.wait(timeout=30) == 0

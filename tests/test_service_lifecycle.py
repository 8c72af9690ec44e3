"""The daemon as a service: stage threads supervised (an injected fault stops it, non-zero, within
seconds), SIGTERM during speech still publishes the final, oversized control requests answered,
and the systemd notifications (READY, WATCHDOG fed only while the worker progresses, STOPPING)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
import zmq

from daemon_helpers import control, start_daemon, wait_ready
from conftest import free_endpoint
from model_fixtures import STENOD
from stenod.bench.metrics import wer
from service_helpers import StdinDaemon, notify, pcm  # noqa: F401


@pytest.mark.parametrize("point,thread", [("vad", "vad"), ("publish", "publisher")])
def test_a_dying_stage_thread_stops_the_daemon_non_zero(point, thread, stenod_env, bundled_model, tmp_path):
    env = {**stenod_env, "STENOD_FAULT": f"{point}:raise"}
    events, ctl = free_endpoint(tmp_path, "ev"), free_endpoint(tmp_path, "ctl")
    started = time.monotonic()
    proc = start_daemon(env, events, ctl, "--source", "-", stdin=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0, err
    assert f"{thread} thread failed: InjectedFault" in err, err
    assert time.monotonic() - started < 45


def test_sigterm_during_speech_publishes_the_final(corpus, stenod_env, bundled_model, tmp_path):
    clip = corpus.clips[3]
    d = StdinDaemon(stenod_env, tmp_path)
    try:
        d.wait_state("ready")
        audio = pcm(clip["path"])
        d.feed(audio[: int(len(audio) * 0.8)])  # speech still going on: no end of speech yet
        d.rec.wait_for(lambda rows: any(r["type"] == "partial" for r in rows), 60)
        assert d.finals() == []
        d.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        assert d.proc.wait(timeout=15) == 0
        assert time.monotonic() - t0 < 5 + 2  # the 5 s stop grace, plus interpreter exit
        (final,) = d.finals()
        assert final["timings"]["end_reason"] == "flush"
        assert "design" in final["text"].lower(), final["text"]
        d.wait_state("stopped", 5)
    finally:
        code, err = d.close()
    assert code == 0, err


def test_sigterm_while_loading_exits_promptly(stenod_env, bundled_model, tmp_path):
    events, ctl = free_endpoint(tmp_path, "ev"), free_endpoint(tmp_path, "ctl")
    proc = start_daemon(stenod_env, events, ctl, "--source", "-", stdin=subprocess.PIPE)
    try:
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.communicate()


def _request(endpoint: str, payload: bytes) -> dict:
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send(payload)
        assert sock.poll(20_000), "no reply"
        return json.loads(sock.recv())
    finally:
        sock.close()


def test_oversized_and_bad_control_requests_get_error_replies_and_overload_is_reported(
        corpus, stenod_env, bundled_model, tmp_path):
    d = StdinDaemon(stenod_env, tmp_path)
    try:
        wait_ready(stenod_env, d.control)
        for size in (70_000, 17 * 1024 * 1024):  # over the protocol's limit, and over ZeroMQ's old cap
            reply = _request(d.control, b'{"cmd": "status", "pad": "' + b"x" * size + b'"}')
            assert reply["ok"] is False and "too large" in reply["error"], reply["error"][:200]
        # a field the command does not take, or an argument of the wrong type: refused, naming it
        for payload, named in ((b'{"cmd": "pause", "x": 1}', "pause: unknown field 'x' (it takes no other field)"),
                               (b'{"cmd": "snapshot", "since": 3}', "'since'"),
                               (b'{"cmd": "ptt", "action": "start", "key": "f9"}', "'key' (it takes 'action')"),
                               (b'{"cmd": "dictation", "state": true}', '"state"')):
            reply = _request(d.control, payload)
            assert reply["ok"] is False and named in reply["error"], reply
        status = json.loads(control(stenod_env, d.control, "status").stdout)
        assert (status["state"], status["dictation"]) == ("ready", "on")  # none of them did anything
        assert status["counters"]["bad_requests"] == 6
        assert status["lag_ms"] == {"vad": 0, "worker": 0}  # idle: nothing waits
        # `stenod status` for people, against the real Daemon.status() reply
        human = subprocess.run(STENOD + ["status", "--control", d.control], env=stenod_env, capture_output=True,
                               text=True, timeout=30)
        assert human.returncode == 0, human.stderr
        lines = dict(line.split(None, 1) for line in human.stdout.splitlines() if line[:1].strip())
        assert lines["state"].strip() == "ready" and lines["source"].strip() == "-"
        assert lines["model"].strip() == f"{status['model']} on {status['device']}"
        assert "bad requests 6" in lines["counters"] and "journal errors 0" in lines["counters"]
        assert lines["latency"].startswith("final p50 –")  # nothing spoken yet
        assert lines["session"].strip() == status["session"]

        # overload: 4 utterances arrive at once, far faster than real time
        clips = corpus.clips[6:10]
        audio = b"".join(pcm(c["path"], silence_s=1.0) for c in clips)
        rss = [_rss_mb(d.proc.pid)]
        d.feed(audio)
        lags = []
        while len(d.finals()) < len(clips):
            lags.append(json.loads(control(stenod_env, d.control, "status").stdout)["lag_ms"]["worker"])
            rss.append(_rss_mb(d.proc.pid))
            assert len(lags) < 400, "finals missing"
            time.sleep(0.2)
        assert max(lags) > 1000, lags  # the backlog is reported while the worker catches up
        assert wer([c["text"] for c in clips], [f["text"] for f in d.finals()]) <= 25
        assert json.loads(control(stenod_env, d.control, "status").stdout)["lag_ms"]["worker"] == 0
        # partials coalesced: far fewer than the one per partial_interval_s a real-time stream gets
        utts = {f["utt"] for f in d.finals()}
        partials = [e for e in d.rec.events(("partial",)) if e["utt"] in utts]
        real_time = len(audio) / 2 / 16000 / 0.5
        assert len(partials) <= real_time / 3, (len(partials), real_time)
        assert max(rss) - rss[0] < 300, rss  # memory bounded while behind
    finally:
        d.proc.send_signal(signal.SIGTERM)
        d.proc.wait(timeout=15)
        d.close()


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def test_model_load_failure_is_a_clear_error(stenod_env, tmp_path):
    events, ctl = free_endpoint(tmp_path, "ev"), free_endpoint(tmp_path, "ctl")
    out = subprocess.run(STENOD + ["run", "--model", str(tmp_path / "no-such-model"), "--source", "-",
                                   "--events", events, "--control", ctl],
                         env=stenod_env, stdin=subprocess.PIPE, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "no-such-model" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_notify_ready_watchdog_and_stopping(corpus, stenod_env, bundled_model, tmp_path, notify):
    """READY=1 only after the model is loaded; WATCHDOG=1 every half interval while the worker is
    well; a decode that hangs stops the pings; STOPPING=1 at SIGTERM."""
    env = {**stenod_env, "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "2000000",
           "STENOD_FAULT": "decode:hang"}
    d = StdinDaemon(env, tmp_path)
    try:
        notify.wait_for("READY=1", 120)
        texts = [m for _, m in notify.messages]
        assert texts.index("STATUS=loading") < texts.index("READY=1")
        assert any(m == "STATUS=ready" for m in texts)
        pings = [m for m in notify.collect(3.0) if m == "WATCHDOG=1"]
        assert len(pings) >= 2, notify.messages
        d.feed(pcm(corpus.clips[3]["path"]))  # the first partial decode hangs
        d.rec.wait_for(lambda rows: any(r["type"] == "speech.start" for r in rows), 30)
        time.sleep(2.0)  # the decode starts and passes half the watchdog interval
        notify.collect(0.05)  # what was sent meanwhile
        assert "WATCHDOG=1" not in notify.collect(3.0)
        assert d.proc.poll() is None  # still running: systemd is the one to restart it
        d.proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1", 5)
        assert d.proc.wait(timeout=15) != 0  # the hung decode never finished: not a clean stop
    finally:
        _, err = d.close()
    assert "did not finish" in err, err


def test_sighup_reloads_the_config_and_a_new_model_without_dropping_audio(corpus, stenod_env, bundled_model,
                                                                          tmp_path, notify):
    from daemon_helpers import Recorder

    cfg = tmp_path / "config.toml"
    cfg.write_text('[model]\nname = "bundled:tiny.en"\n')
    events, ctl = free_endpoint(tmp_path, "ev"), free_endpoint(tmp_path, "ctl")
    env = {**stenod_env, "NOTIFY_SOCKET": str(notify.path)}
    rec = Recorder(events, tmp_path / "events.jsonl")
    proc = subprocess.Popen(STENOD + ["run", "--config", str(cfg), "--source", "-", "--events", events,
                                      "--control", ctl], env=env, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        notify.wait_for("READY=1", 120)
        cfg.write_text(f'[model]\nname = "{bundled_model}"\n[vad]\nhangover_ms = 400\n')
        notify.messages.clear()
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1", 10)
        time.sleep(0.1)  # the reload is queued for the worker
        proc.stdin.write(pcm(corpus.clips[3]["path"], silence_s=1.5))  # spoken while the model reloads
        proc.stdin.flush()
        notify.wait_for("READY=1", 120)
        assert [m for _, m in notify.messages].index("RELOADING=1") < [m for _, m in notify.messages].index("READY=1")
        rows = rec.wait_for(lambda rows: any(r["type"] == "final" and r["text"] for r in rows), 60)
        final = next(r for r in rows if r["type"] == "final" and r["text"])
        assert final["model"] == str(bundled_model) and "design" in final["text"].lower(), final
        assert any(r["type"] == "status" and r["detail"].get("model") == str(bundled_model) for r in rows)
        cfg.write_text("[model]\nname = 3\n")  # a broken config: reported, the daemon carries on
        notify.messages.clear()
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1", 30)
        assert json.loads(control(env, ctl, "status").stdout)["state"] == "ready"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        rec.stop()
    err = err.decode()
    assert proc.returncode == 0, err
    assert "[vad] changed; that takes effect at the next start" in err and "keeping the running configuration" in err

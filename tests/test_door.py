"""The client door without a model: `stenod client NAME` from an entry point, the C example's
JSON reading, `stenod status --follow [--waybar]` across an absent and restarting daemon, and
the trigger commands' errors. Real processes and real ZeroMQ sockets against a fake daemon."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess

import pytest
from door_helpers import STENOD, Lines, build_subscriber, make_plugin_dist, plugin_env
from fake_daemon import FakeDaemon, final, partial

from stenod.clients.statusbar import CLASSES, Known, bar_state
from stenod.protocol import TOPIC_FINAL, SpeechEnd, SpeechStart, StatusEvent


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_RUNTIME_DIR": str(tmp_path),
            "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def plugin(tmp_path, env):
    return plugin_env(env, make_plugin_dist(tmp_path / "site"))


def wait_synced(daemon: FakeDaemon) -> None:
    """Until a client subscribed and took its snapshot: what is published next reaches it."""
    import time

    daemon.wait_subscribed(20)
    deadline = time.monotonic() + 20
    while "snapshot" not in daemon.requests:
        assert time.monotonic() < deadline, daemon.requests
        time.sleep(0.05)


# ------------------------------------------------------------------------------- plugin door


def test_client_lists_and_explains_registered_clients(plugin):
    out = subprocess.run(STENOD + ["client"], env=plugin, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "shout (shout_client:Shout)" in out.stdout
    out = subprocess.run(STENOD + ["client", "shout", "--help"], env=plugin, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0
    for option in ("--prefix", "--always", "--events", "--control", "capitals"):
        assert option in out.stdout
    out = subprocess.run(STENOD + ["client", "--help"], env=plugin, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "examples:" in out.stdout and "stenod.clients" in out.stdout


@pytest.mark.parametrize("name, message", [("nope", "no client named 'nope'"), ("broken", "cannot be loaded"),
                                           ("odd", "not a stenod.clients.base.Client subclass")])
def test_unknown_or_broken_clients_are_clear_errors(plugin, name, message):
    out = subprocess.run(STENOD + ["client", name], env=plugin, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    if name == "nope":
        assert "shout" in out.stderr  # the installed ones are listed


def test_plugin_client_runs_gated_and_with_always(plugin, endpoint):
    with FakeDaemon(endpoint("ev"), endpoint("ctl"), heartbeat_s=0.1) as daemon:
        for always, expected in ((False, [">> ON", ">> END"]), (True, [">> ON", ">> OFF", ">> END"])):
            daemon.restart()
            daemon.requests.clear()
            args = ["client", "shout", "--prefix", ">> ", "--events", daemon.events, "--control", daemon.control]
            proc = Lines(STENOD + args + (["--always"] if always else []), plugin)
            try:
                wait_synced(daemon)
                daemon.publish_raw([b"stenod.v1.brand.new", b'{"v": 1}'])  # unknown topic: skipped
                daemon.publish(partial(1, 1, "on"))
                daemon.publish(final(1, "on"))
                daemon.publish(dataclasses.replace(final(2, "off"), dictation=False))
                envelope = daemon.next_envelope()  # a final with fields this version does not know
                body = {**json.loads(_body(final(3, "end"))), **envelope, "mood": {"x": [1]}}
                daemon.publish_raw([TOPIC_FINAL.encode(), json.dumps(body).encode()])
                proc.wait_for(lambda lines: ">> END" in lines)
            finally:
                rc = proc.stop(signal.SIGTERM)
            assert proc.lines == expected and rc == 0
            assert "closed" in proc.err and not any("Traceback" in e for e in proc.err), proc.err


def _body(event) -> bytes:
    from stenod.protocol import encode

    return encode(event)[1]


# ------------------------------------------------------------------------------- C example


def test_c_subscriber_prints_exact_text_of_finals(tmp_path, endpoint):
    exe = build_subscriber(tmp_path)
    texts = ['He said "hi" \\ left', "naïve café — 100 % ✓ 🎤", "tab\there", ""]
    events, ctl = endpoint("ev"), endpoint("ctl")
    proc = Lines([str(exe), events], dict(os.environ))
    try:
        with FakeDaemon(events, ctl, heartbeat_s=0.1) as daemon:
            daemon.wait_subscribed(20)
            daemon.publish(partial(1, 1, "not a final"))
            for i, text in enumerate(texts[:2], 1):
                daemon.publish(final(i, text))
            # The same texts as a stricter encoder writes them (ASCII only: \u escapes, surrogate
            # pairs), with "text" inside other fields' strings and objects before the real one.
            for i, text in enumerate(texts, 10):
                body = {"v": 1, "type": "final", **daemon.next_envelope(), "model": 'x","text":"wrong',
                        "timings": {"text": "wrong", "n": [1, {"}": "{"}], "ok": True, "none": None},
                        "utt": i, "rev": 1, "audio": {"start_ms": 0, "end_ms": 10}, "text": text,
                        "stable_len": len(text), "dictation": False}
                daemon.publish_raw([TOPIC_FINAL.encode(), json.dumps(body, ensure_ascii=True).encode()])
            proc.wait_for(lambda lines: len(lines) >= 6)
        with FakeDaemon(events, ctl, heartbeat_s=0.1) as again:  # a restart: libzmq reconnects by itself
            again.wait_subscribed(20)
            again.publish(final(1, "after the restart"))
            proc.wait_for(lambda lines: len(lines) >= 7)
    finally:
        rc = proc.stop(signal.SIGTERM)
    assert proc.lines == texts[:2] + texts + ["after the restart"], proc.lines
    assert rc == 0 and proc.err == []


def test_c_subscriber_help_and_bad_endpoint(tmp_path):
    exe = build_subscriber(tmp_path)
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "example" in out.stderr
    out = subprocess.run([str(exe), "nonsense://x"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "cannot connect" in out.stderr


# ------------------------------------------------------------------------------- status bar


def test_bar_state_for_each_class():
    seen = {
        bar_state(Known(endpoint="ipc://x")).cls,
        bar_state(Known(state="loading")).cls,
        bar_state(Known(state="ready")).cls,
        bar_state(Known(state="ready", speaking=True)).cls,
        bar_state(Known(state="ready", dictation="off", speaking=True)).cls,
        bar_state(Known(state="paused")).cls,
        bar_state(Known(state="error", error="boom")).cls,
    }
    assert seen == set(CLASSES)
    assert "boom" in bar_state(Known(state="error", error="boom")).tooltip
    assert bar_state(Known(state="stopped")).cls == "absent"
    assert bar_state(Known(state="ready", model="m")).tooltip.endswith("m")
    line = json.loads(bar_state(Known(state="paused")).to_json())
    assert set(line) == {"text", "alt", "tooltip", "class"} and line["class"] == "paused"


def test_waybar_stream_follows_an_absent_then_restarting_daemon(env, endpoint):
    events, ctl = endpoint("ev"), endpoint("ctl")
    proc = Lines(STENOD + ["status", "--follow", "--waybar", "--events", events, "--control", ctl], env)

    def classes(lines):
        return [json.loads(line)["class"] for line in lines]

    try:
        proc.wait_for(lambda lines: classes(lines) == ["absent"])
        with FakeDaemon(events, ctl, heartbeat_s=0.2) as daemon:  # a daemon before the gate: dictation on
            proc.wait_for(lambda lines: classes(lines)[-1:] == ["listening"])
            daemon.publish_raw([b"stenod.v1.future.thing", b"{}"])
            daemon.publish(SpeechStart(utt=1, audio_ms=0))
            proc.wait_for(lambda lines: classes(lines)[-1:] == ["speaking"])
            daemon.publish(SpeechEnd(utt=1, audio_ms=900))
            daemon.publish(StatusEvent(state="ready", detail={"dictation": "off", "future": [1]}))
            proc.wait_for(lambda lines: classes(lines)[-1:] == ["dictation-off"])
            daemon.publish(StatusEvent(state="paused", detail={"dictation": "off"}))
            proc.wait_for(lambda lines: classes(lines)[-1:] == ["paused"])
        proc.wait_for(lambda lines: classes(lines)[-1:] == ["absent"], timeout=30)  # silent: gone
        with FakeDaemon(events, ctl, heartbeat_s=0.2):  # a new session on the same sockets
            proc.wait_for(lambda lines: classes(lines)[-1:] == ["listening"], timeout=30)
    finally:
        rc = proc.stop(signal.SIGTERM)
    assert rc == 0
    assert classes(proc.lines) == ["absent", "listening", "speaking", "listening", "dictation-off", "paused",
                                   "absent", "listening"]
    assert all(json.loads(line)["text"] for line in proc.lines)


def test_plain_follow_prints_a_line_per_change_and_stops_on_ctrl_c(env, endpoint):
    with FakeDaemon(endpoint("ev"), endpoint("ctl"), heartbeat_s=0.2) as daemon:
        proc = Lines(STENOD + ["status", "--follow", "--events", daemon.events, "--control", daemon.control], env)
        try:
            proc.wait_for(lambda lines: any("listening" in line for line in lines))
            daemon.publish(StatusEvent(state="paused", detail={}))
            lines = proc.wait_for(lambda lines: "paused" in lines[-1])
        finally:
            rc = proc.stop(signal.SIGINT)
    assert rc == 0 and len(lines) == 2 and lines[0].split(" ", 1)[1] == "listening, dictation on — fake/tiny"


# ------------------------------------------------------------------------------- triggers


@pytest.mark.parametrize("args", [["dictation", "on"], ["dictation", "toggle"], ["toggle"], ["ptt", "start"],
                                  ["ptt", "stop"]])
def test_trigger_commands_without_a_daemon_say_so(env, endpoint, args):
    out = subprocess.run(STENOD + args + ["--control", endpoint("none"), "--timeout", "0.3"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "no stenod daemon answering" in out.stderr and "Traceback" not in out.stderr


def test_trigger_commands_refused_by_an_old_daemon_and_bad_arguments(env, endpoint):
    with FakeDaemon(endpoint("ev"), endpoint("ctl")) as daemon:  # it knows no dictation command
        out = subprocess.run(STENOD + ["toggle", "--control", daemon.control], env=env, capture_output=True,
                             text=True, timeout=60)
    assert out.returncode == 1 and "refused" in out.stderr and "unknown command" in out.stderr
    for args in (["dictation", "maybe"], ["ptt"], ["status", "--waybar"]):
        out = subprocess.run(STENOD + args, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "Traceback" not in out.stderr, (args, out.stderr)


@pytest.mark.parametrize("command", [["dictation"], ["toggle"], ["ptt"], ["status"], ["client"]])
def test_every_new_command_has_help_with_an_example(env, command):
    out = subprocess.run(STENOD + command + ["--help"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "examples:" in out.stdout and "stenod " + command[0] in out.stdout

"""`stenod tail` and `stenod status|pause|resume|stop`, run as real processes against a fake daemon."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest
from fake_daemon import FakeDaemon, final, partial

from stenod.clients.terminal import fit_tail


@pytest.fixture
def env(tmp_path):
    """A hermetic environment: no config file, no colour opt-out."""
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR",)}
    return {**environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_RUNTIME_DIR": str(tmp_path),
            "TERM": "xterm", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def daemon(endpoint):
    with FakeDaemon(endpoint("events"), endpoint("control"), heartbeat_s=0.1) as fake:
        yield fake


class Proc:
    """A `stenod` child whose stdout (a pipe, or a pseudo-terminal) and stderr are read in threads."""

    def __init__(self, args: list[str], env: dict[str, str], *, tty_columns: int | None = None):
        self.out, self.err = bytearray(), bytearray()
        self._slave: int | None = None
        if tty_columns:
            master, slave = pty.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, tty_columns, 0, 0))
            self.proc = subprocess.Popen([sys.executable, "-m", "stenod", *args], env=env, stdout=slave,
                                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            self._slave = slave  # kept open until stop(): output written just before exit is not lost
            self._threads = [threading.Thread(target=self._read_fd, args=(master, self.out), daemon=True)]
        else:
            self.proc = subprocess.Popen([sys.executable, "-m", "stenod", *args], env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            self._threads = [threading.Thread(target=self._read_fd, args=(self.proc.stdout.fileno(), self.out),
                                              daemon=True)]
        self._threads.append(threading.Thread(target=self._read_fd, args=(self.proc.stderr.fileno(), self.err),
                                              daemon=True))
        for t in self._threads:
            t.start()

    @staticmethod
    def _read_fd(fd: int, into: bytearray) -> None:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the pty's other side closed
                break
            if not chunk:
                break
            into.extend(chunk)

    def wait_for(self, stream: str, text: str, timeout: float = 8.0) -> None:
        buf = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        while text.encode() not in buf:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.kill()
                pytest.fail(f"{text!r} not on std{stream}; stdout={bytes(self.out)!r} stderr={bytes(self.err)!r}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 5.0) -> int:
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            self.kill()
        if self._slave is not None:
            time.sleep(0.2)  # let the reader drain the pty, then end it with EIO
            os.close(self._slave)
            self._slave = None
        for t in self._threads:
            t.join(2)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def stdout(self) -> str:
        return self.out.decode()

    @property
    def stderr(self) -> str:
        return self.err.decode()


def tail(daemon: FakeDaemon, env, *extra: str, **kw) -> Proc:
    return Proc(["tail", "--events", daemon.events, "--control", daemon.control, *extra], env, **kw)


def test_tail_json_prints_every_body_as_received(daemon, env):
    daemon.publish(final(0, "earlier"))
    proc = tail(daemon, env, "--json", "--history", "1")
    try:
        proc.wait_for("err", f"connected to stenod session {daemon.session[:8]} (model fake/tiny)")
        daemon.wait_subscribed()  # else the first events may precede the subscription
        daemon.publish(partial(1, 0, "hel"))
        daemon.publish(partial(1, 1, "hello wor", 6))
        daemon.publish(final(1, "hello world"))
        proc.wait_for("out", '"hello world"')
    finally:
        code = proc.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in proc.stderr
    bodies = [json.loads(line) for line in proc.stdout.splitlines()]
    speech = [(b["type"], b["text"]) for b in bodies if b["type"] != "heartbeat"]
    assert speech == [("final", "earlier"), ("partial", "hel"), ("partial", "hello wor"), ("final", "hello world")]
    assert all(b["session"] == daemon.session and b["v"] == 1 for b in bodies)


def test_tail_to_a_pipe_prints_finals_one_per_line(daemon, env):
    proc = tail(daemon, env, "--history", "0")
    try:
        proc.wait_for("err", "connected to stenod session")
        daemon.wait_subscribed()  # else the first events may precede the subscription
        daemon.publish(partial(0, 0, "good"))
        daemon.publish(final(0, " good morning"))
        daemon.publish(partial(1, 0, "how"))
        daemon.publish(final(1, "how are you"))
        proc.wait_for("out", "how are you\n")
        daemon.publish(final(2, "missed"), lose=True)
        daemon.publish(final(3, "next"))
        proc.wait_for("err", "missed events, resynced")
        proc.wait_for("out", "next\n")
        daemon.restart()
        proc.wait_for("err", f"daemon restarted: new session {daemon.session[:8]} (model fake/tiny)")
    finally:
        code = proc.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in proc.stderr
    assert proc.stdout == "good morning\nhow are you\nmissed\nnext\n"


def test_tail_on_a_terminal_rewrites_the_partial_line(daemon, env):
    proc = tail(daemon, env, "--history", "0", tty_columns=30)
    try:
        proc.wait_for("err", "connected to stenod session")
        daemon.wait_subscribed()  # else the first events may precede the subscription
        daemon.publish(partial(0, 0, "the quick", 4))
        daemon.publish(partial(0, 1, "the quick brown fox jumps over the lazy", 20))
        proc.wait_for("out", "lazy")
        daemon.publish(final(0, "the quick brown fox jumps over the lazy dog"))
        proc.wait_for("out", "dog\r\n")
    finally:
        code = proc.stop()
    assert code == 0
    out = proc.stdout
    assert "\r\x1b[Kthe \x1b[2mquick\x1b[0m" in out  # stable part plain, the rest dimmed
    # cut to 29 columns (…rown fox jumps over the lazy), newest words kept, the stable split still shown
    assert "\r\x1b[K…rown fox \x1b[2mjumps over the lazy\x1b[0m" in out
    assert out.endswith("\r\x1b[Kthe quick brown fox jumps over the lazy dog\r\n")


def test_tail_no_color_on_a_terminal(daemon, env):
    proc = tail(daemon, env, "--history", "0", "--no-color", tty_columns=80)
    try:
        proc.wait_for("err", "connected")
        daemon.wait_subscribed()  # else the first events may precede the subscription
        daemon.publish(partial(0, 0, "plain text", 6))
        proc.wait_for("out", "plain text")
    finally:
        assert proc.stop() == 0
    assert "\x1b[2m" not in proc.stdout
    assert proc.stdout.endswith("\r\x1b[Kplain text\r\n")  # the open line is ended on exit


def test_tail_waits_for_the_daemon_once(endpoint, env):
    events, control = endpoint("events"), endpoint("control")
    proc = Proc(["tail", "--events", events, "--control", control], env)
    try:
        proc.wait_for("err", f"waiting for the stenod daemon at {control}")
        time.sleep(0.5)
        with FakeDaemon(events, control, heartbeat_s=0.1) as fake:
            fake.publish(final(0, "there you are"))
            proc.wait_for("err", f"connected to stenod session {fake.session[:8]}")
            proc.wait_for("out", "there you are\n")
    finally:
        code = proc.stop()
    assert code == 0
    assert proc.stderr.count("waiting for the stenod daemon") == 1
    assert "Traceback" not in proc.stderr


def run_cli(*args: str, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stenod", *args], env=env, capture_output=True, text=True,
                          timeout=20)


def test_control_commands_against_a_daemon(daemon, env):
    status = run_cli("status", "--control", daemon.control, env=env)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split() == ["state", "ready"]
    assert f"session   {daemon.session}" in status.stdout
    assert "fake/tiny on cpu" in status.stdout
    assert "guard drops 1" in status.stdout
    assert "latency   final p50 180 ms, p95 320 ms, max 333 ms\n          first partial p50 –," in status.stdout
    raw = run_cli("status", "--json", "--control", daemon.control, env=env)
    assert json.loads(raw.stdout)["session"] == daemon.session
    for cmd, expected in (("pause", "paused"), ("resume", "ready"), ("stop", "stopping")):
        res = run_cli(cmd, "--control", daemon.control, env=env)
        assert res.returncode == 0 and f"(state: {expected})" in res.stdout, res
    assert daemon.requests[-3:] == ["pause", "resume", "shutdown"]


def test_control_commands_without_a_daemon(endpoint, env):
    nobody = endpoint("control")
    for cmd in ("status", "pause", "stop"):
        res = run_cli(cmd, "--control", nobody, "--timeout", "0.2", env=env)
        assert res.returncode == 1
        assert res.stdout == ""
        assert res.stderr == f"stenod: no stenod daemon answering at {nobody} — is `stenod run` running?\n"


def test_fit_tail_keeps_the_end_and_counts_wide_characters():
    assert fit_tail("hello world", 6, 20) == ("hello ", "world")
    assert fit_tail("hello world", 6, 6) == ("…", "world")
    assert fit_tail("hello world", 6, 8) == ("…o ", "world")
    assert fit_tail("日本語のテキスト", 3, 7) == ("…", "キスト")

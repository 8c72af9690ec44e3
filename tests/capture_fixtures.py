"""A private PulseAudio that a test may kill and start again on the same socket (the shared
``pulse`` fixture lives for the whole session, so it must never go away). Same devices as the
shared one: audio played to ``vsink`` comes out of the default source ``vmic``."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import PULSE_RATE, Pulse, _require, _short_tmpdir, _stop


class RestartablePulse(Pulse):
    """A :class:`Pulse` whose server can be killed (``kill()``) and started again (``start()``)."""

    def __init__(self, root: Path, keepalive: bool = True):
        runtime, self.home = root / "run", root / "home"
        runtime.mkdir(mode=0o700)
        self.home.mkdir(mode=0o700)
        socket = runtime / "native"
        conf = root / "client.conf"
        conf.write_text(f"autospawn = no\ndefault-server = unix:{socket}\n")
        env = {"XDG_RUNTIME_DIR": str(runtime), "PULSE_SERVER": f"unix:{socket}",
               "PULSE_CLIENTCONFIG": str(conf), "PULSE_SOURCE": "vmic", "PULSE_SINK": "vsink"}
        super().__init__(env=env, socket=socket, log=root / "pulseaudio.log")
        self.daemon: subprocess.Popen | None = None
        self.small_blocks = keepalive
        self.keepalive: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> None:
        cmd = ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
               "--use-pid-file=no", "--no-cpu-limit", "--realtime=no", "--high-priority=no",
               "--log-target=stderr", "--log-level=warning",
               "-L", f"module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
               "-L", f"module-null-sink sink_name=vsink rate={PULSE_RATE} channels=1",
               "-L", "module-remap-source source_name=vmic master=vsink.monitor"]
        if os.geteuid() == 0:
            cmd.append("--system=no")
        env = {**os.environ, **self.env, "HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config")}
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        with open(self.log, "ab") as logf:
            self.daemon = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while subprocess.run(["pactl", "info"], env=self.environ(), capture_output=True, timeout=10).returncode:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"pulseaudio did not start:\n{self.log.read_text()}", pytrace=False)
            time.sleep(0.05)
        self.pactl("set-default-source", "vmic")
        if not self.small_blocks:
            return
        # as in the shared fixture: a 20 ms stream keeps the null sink rendering in small blocks
        self.keepalive = subprocess.Popen(
            ["pacat", "--playback", "--device=vsink", "--raw", "--format=s16le", f"--rate={PULSE_RATE}",
             "--channels=1", "--latency-msec=20", "/dev/zero"], env=self.environ(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        while self.sink_latency() > 0.05:
            if time.monotonic() > deadline:
                pytest.fail("virtual sink stays slow", pytrace=False)
            time.sleep(0.05)

    def kill(self) -> None:
        """The server goes away without a goodbye (SIGKILL), as when it crashes."""
        _stop(self.keepalive)
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGKILL)
            self.daemon.wait(10)
        self.socket.unlink(missing_ok=True)

    def stop(self) -> None:
        _stop(self.keepalive)
        _stop(self.daemon)


def _own_pulse(keepalive: bool) -> Iterator[RestartablePulse]:
    _require("pulseaudio", "pactl", "pacat", "paplay")
    root = _short_tmpdir("stenod-pa2-")
    p = RestartablePulse(root, keepalive)
    try:
        p.start()
        yield p
    finally:
        p.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def own_pulse() -> Iterator[RestartablePulse]:
    """A private PulseAudio for one test, which it may kill and restart."""
    yield from _own_pulse(True)


@pytest.fixture
def cold_pulse() -> Iterator[RestartablePulse]:
    """A private PulseAudio as a desktop has it: nothing keeps the null sink rendering in small
    blocks, so a new recording gets its first audio up to 2 s after it started."""
    yield from _own_pulse(False)

"""Helpers for the service tests: a daemon fed raw PCM on stdin at the test's pace, and a real
systemd notification socket (an AF_UNIX datagram socket bound by the test)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import free_endpoint
from daemon_helpers import Recorder, start_daemon


def pcm(path: str, silence_s: float = 0.0) -> bytes:
    """A 16 kHz mono file as raw s16le, with `silence_s` of silence after it."""
    audio, rate = sf.read(path, dtype="int16")
    assert rate == 16000 and audio.ndim == 1
    return np.concatenate([audio, np.zeros(int(silence_s * rate), np.int16)]).astype("<i2").tobytes()


class NotifySocket:
    """What systemd listens on for sd_notify: every datagram received, in order."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[tuple[float, str]] = []

    def collect(self, seconds: float) -> list[str]:
        """Receive for `seconds`; returns the messages received meanwhile."""
        end = time.monotonic() + seconds
        new = []
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            self.messages.append((time.monotonic(), msg))
            new.append(msg)
        return new

    def wait_for(self, text: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not any(text in m for _, m in self.messages):
            assert time.monotonic() < end, f"no {text!r} in {[m for _, m in self.messages]}"
            self.collect(0.2)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    n = NotifySocket(Path(free_endpoint(tmp_path, "notify")[6:]))
    yield n
    n.close()


class StdinDaemon:
    """`stenod run --source -` with the test writing the audio; a Recorder on its events."""

    def __init__(self, env: dict, tmp: Path, *args: str):
        self.env = env
        self.events, self.control = free_endpoint(tmp, "events"), free_endpoint(tmp, "control")
        self.rec = Recorder(self.events, tmp / f"events-{time.monotonic_ns()}.jsonl")
        self.proc = start_daemon(env, self.events, self.control, "--source", "-", *args, stdin=subprocess.PIPE)

    def feed(self, data: bytes) -> None:
        self.proc.stdin.buffer.write(data)  # start_daemon opens the pipes in text mode
        self.proc.stdin.buffer.flush()

    def finals(self) -> list[dict]:
        return [e for e in self.rec.events(("final",)) if e["text"]]

    def wait_state(self, state: str, timeout: float = 120) -> None:
        self.rec.wait_for(lambda rows: any(r["type"] == "status" and r["state"] == state for r in rows), timeout)

    def close(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.kill()
        _, err = self.proc.communicate(timeout=30)
        self.rec.stop()
        return self.proc.returncode, err

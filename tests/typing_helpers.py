"""Helpers for the typing and clipboard tests: a terminal window whose keystrokes land in a file,
`stenod type` / `stenod clip` as subprocesses, and a real daemon fed speech on stdin."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import free_endpoint
from daemon_helpers import Recorder, wait_ready
from model_fixtures import STENOD

CAT = "stty -icanon; exec cat > {path}"
"""The window's program: every key as it comes (no line buffering), bytes into a file."""


def read_back(raw: bytes) -> str:
    """What a text field would show for the bytes a terminal received: BackSpace (DEL or BS)
    deletes the character before it."""
    out: list[str] = []
    for ch in raw.decode("utf-8", "replace"):
        if ch in "\x7f\x08":
            if out:
                out.pop()
        else:
            out.append(ch)
    return "".join(out)


class Terminal:
    """A terminal window (xterm or foot) running ``cat > FILE``; :meth:`text` reads what arrived."""

    def __init__(self, argv: list[str], env: dict, path: Path):
        self.path = path
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while not path.exists():  # created when `cat` starts, after stty
            assert self.proc.poll() is None, f"{argv[0]} exited with {self.proc.returncode}"
            assert time.monotonic() < deadline, f"{argv[0]} did not start its program"
            time.sleep(0.05)

    def text(self) -> str:
        """What arrived, BackSpaces applied."""
        return read_back(self.path.read_bytes())

    def wait_for(self, expected: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (got := self.text()) == expected:
                return got
            time.sleep(0.1)
        return self.text()

    def settle(self, quiet_s: float = 1.0, timeout: float = 30) -> str:
        """The text once nothing more has arrived for ``quiet_s``."""
        deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
        while time.monotonic() < deadline:
            now = self.path.read_bytes()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                break
            time.sleep(0.1)
        return self.text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class ClientProcess:
    """`stenod type ...` or `stenod clip ...` in the background, stderr in a file."""

    def __init__(self, args: list[str], env: dict, tmp: Path):
        self.err_path = tmp / f"client-{time.monotonic_ns()}.err"
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(STENOD + args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._err)

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_stderr(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in (err := self.stderr()):
                return err
            assert self.proc.poll() is None, f"client exited with {self.proc.returncode}:\n{err}"
            time.sleep(0.05)
        raise AssertionError(f"no {needle!r} on the client's stderr:\n{self.stderr()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            code = self.proc.wait(10)
        finally:
            self._err.close()
        return code


def client_env(base: dict, display: dict) -> dict:
    """``base`` without any display variables, plus those of ``display``."""
    env = {k: v for k, v in base.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SWAYSOCK", "XDG_SESSION_TYPE", "HYPRLAND_INSTANCE_SIGNATURE")}
    return {**env, **display}


class SpeakingDaemon:
    """The real daemon on the bundled model, reading speech from stdin, and a recorder of its events."""

    def __init__(self, env: dict, tmp: Path):
        self.events, self.control = free_endpoint(tmp, "events"), free_endpoint(tmp, "control")
        self.env = env
        self.log = open(tmp / "daemon.log", "wb")
        self.proc = subprocess.Popen(STENOD + ["run", "--model", "bundled:tiny.en", "--events", self.events,
                                               "--control", self.control, "--source", "-"],
                                     env=env, stdin=subprocess.PIPE, stdout=self.log, stderr=self.log)
        self.recorder = Recorder(self.events, tmp / "events.jsonl")
        wait_ready(env, self.control, timeout=240)

    def speak(self, clip_path: str, timeout: float = 120) -> dict:
        """Play a clip (then silence) into the daemon at about twice real time; its final event."""
        audio, rate = sf.read(clip_path, dtype="int16")
        assert rate == 16000
        silence = np.zeros(int(rate * 1.5), dtype=np.int16)
        pcm = np.concatenate([audio, silence]).tobytes()
        before = len(self.recorder.events(("final",)))
        block = 3200  # 100 ms
        for i in range(0, len(pcm), block):
            self.proc.stdin.write(pcm[i:i + block])
            self.proc.stdin.flush()
            time.sleep(0.05)
        finals = self.recorder.wait_for(lambda rows: len([r for r in rows if r["type"] == "final"]) > before,
                                        timeout)
        return [r for r in finals if r["type"] == "final"][before]

    def close(self) -> None:
        self.recorder.stop()
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def speaking_daemon(stenod_env, bundled_model, tmp_path_factory):
    daemon = SpeakingDaemon(stenod_env, tmp_path_factory.mktemp("speaking"))
    try:
        yield daemon
    finally:
        daemon.close()


def a_clip(corpus) -> dict:
    """A corpus clip with capitals and punctuation in its text, short enough to type quickly."""
    clips = sorted(corpus.clips, key=lambda c: len(c["text"]))
    return next(c for c in clips if len(c["text"]) > 25)


def require(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.fail(f"missing programs: {', '.join(missing)} (run scripts/setup.sh)", pytrace=False)


TK_ENTRY = """\
import os, sys, tkinter as tk
path = sys.argv[1]
root = tk.Tk(className="stenod-entry")
text = tk.StringVar()
def save(*_):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text.get())
    os.replace(path + ".tmp", path)
text.trace_add("write", save)
entry = tk.Entry(root, textvariable=text, width=80)
entry.pack()
entry.focus_set()
root.after(100, save)
root.mainloop()
"""
"""A Tk window with one text entry; its content is written to the file named in argv[1] on each change."""

"""Helpers for the client-door tests: a child process read line by line, a throwaway plugin
distribution on disk, and the C example built with the system compiler."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STENOD = [sys.executable, "-m", "stenod"]


class Lines:
    """A child process whose stdout lines (and stderr) are collected by threads."""

    def __init__(self, cmd: list[str], env: dict[str, str]):
        self.lines: list[str] = []
        self.err: list[str] = []
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, encoding="utf-8")
        self._threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float = 30) -> list[str]:
        """Wait until ``predicate(lines)`` holds; returns the lines."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(list(self.lines)):
                return list(self.lines)
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the readers finish
                if predicate(list(self.lines)):
                    return list(self.lines)
                raise AssertionError(f"exited {self.proc.returncode}: {self.lines} {self.err}")
            time.sleep(0.05)
        raise AssertionError(f"timed out; stdout {self.lines[-20:]}, stderr {self.err[-10:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Send ``sig`` and return the exit status (the process is killed if it does not exit)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"did not exit within {timeout} s of signal {sig}") from None
        for t in self._threads:
            t.join(5)
        return rc


PLUGIN = '''\
"""A third-party stenod client: prints finals in capitals."""

import sys

from stenod.clients.base import Client


class Shout(Client):
    """Print every final transcript in capitals."""

    name = "shout"
    gated = True

    def __init__(self, events, control, *, always=False, prefix=""):
        super().__init__(events, control, always=always)
        self.prefix = prefix

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--prefix", default="", help="text before each line")

    @classmethod
    def from_args(cls, args, events, control):
        return cls(events, control, always=args.always, prefix=args.prefix)

    def on_final(self, event, origin="live"):
        print(self.prefix + event.text.upper(), flush=True)

    def on_notice(self, notice):
        if type(notice).__name__ == "Connected":
            print("connected", file=sys.stderr, flush=True)  # (tests wait for it)
        super().on_notice(notice)

    def close(self):
        print("closed", file=sys.stderr, flush=True)


class NotAClient:
    pass
'''


def make_plugin_dist(root: Path) -> Path:
    """A distribution installed by hand into ``root`` (put it on PYTHONPATH): ``shout_client``
    registers ``shout`` (a gated client), ``broken`` (an import error) and ``odd`` (no Client)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "shout_client.py").write_text(PLUGIN)
    dist = root / "shout_client-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-client\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[stenod.clients]\nshout = shout_client:Shout\nbroken = no_such_module_xyz:Client\n"
        "odd = shout_client:NotAClient\n")
    (dist / "RECORD").write_text("")
    return root


def plugin_env(env: dict[str, str], root: Path) -> dict[str, str]:
    """``env`` with the plugin distribution first on PYTHONPATH (stenod's sources stay on it)."""
    paths = [str(root), str(REPO / "src")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def build_subscriber(out_dir: Path) -> Path:
    """Compile examples/subscribe.c with the build line its comment gives."""
    if shutil.which("cc") is None:
        pytest.fail("no C compiler `cc` (run scripts/setup.sh)", pytrace=False)
    exe = out_dir / "stenod-subscribe"
    build = subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-o", str(exe), str(REPO / "examples" / "subscribe.c"),
                            "-lzmq"], capture_output=True, text=True, timeout=120)
    if build.returncode != 0:
        pytest.fail(f"building examples/subscribe.c failed (is libzmq3-dev installed?):\n{build.stderr}",
                    pytrace=False)
    return exe

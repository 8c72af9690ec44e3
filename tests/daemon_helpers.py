"""Starting the real daemon and a recording subscriber as separate processes, for end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from model_fixtures import STENOD

RECORDER = [sys.executable, str(Path(__file__).with_name("event_recorder.py"))]


class Recorder:
    """A subscriber process writing every received event (plus `_recv_mono_ns`) to a JSONL file."""

    def __init__(self, events: str, path: Path, idle_s: float = 600):
        self.path = path
        self.proc = subprocess.Popen(RECORDER + [events, str(path), str(idle_s)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "listening"
        time.sleep(0.2)  # let the SUB socket connect (it retries until the daemon binds)

    def events(self, types: tuple[str, ...] | None = None) -> list[dict]:
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        return [r for r in rows if types is None or r["type"] in types]

    def wait_for(self, predicate, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.events()
            if predicate(rows):
                return rows
            time.sleep(0.1)
        raise AssertionError(f"timed out; received: {[r['type'] for r in self.events()][-20:]}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_daemon(env: dict, events: str, control: str, *args: str, stdin=None) -> subprocess.Popen:
    cmd = STENOD + ["run", "--model", "bundled:tiny.en", "--events", events, "--control", control, *args]
    return subprocess.Popen(cmd, env=env, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def control(env: dict, endpoint: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(STENOD + [*args, "--control", endpoint, "--json"], env=env, capture_output=True, text=True,
                          timeout=timeout)


def wait_ready(env: dict, endpoint: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = control(env, endpoint, "status")
        if out.returncode == 0:
            status = json.loads(out.stdout)
            if status.get("state") == "ready":
                return status
        time.sleep(0.3)
    raise AssertionError("daemon did not become ready")


def overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
    return a0 < b1 and b0 < a1

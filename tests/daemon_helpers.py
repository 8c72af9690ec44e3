"""Starting the real daemon and a recording subscriber as separate processes, for end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import free_endpoint
from model_fixtures import STENOD

RECORDER = [sys.executable, "-m", "stenod.bench.listen"]


class Recorder:
    """A subscriber process (the bench's listener) writing every received event to a JSONL file;
    `events()` gives the bodies with `_topic` and `_recv_mono_ns` added."""

    def __init__(self, events: str, path: Path):
        self.path = path
        self.proc = subprocess.Popen(RECORDER + [events, str(path)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not (path.exists() and path.read_text()):  # its first line: the subscription is up
            assert self.proc.poll() is None and time.monotonic() < deadline, "listener did not start"
            time.sleep(0.05)
        time.sleep(0.2)  # let the SUB socket connect (it retries until the daemon binds)

    def events(self, types: tuple[str, ...] | None = None) -> list[dict]:
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        out = [{**r["event"], "_topic": r["topic"], "_recv_mono_ns": r["recv_mono_ns"]}
               for r in rows if r["topic"].startswith("stenod.v1.")]
        return [r for r in out if types is None or r["type"] in types]

    def wait_for(self, predicate, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.events()
            if predicate(rows):
                return rows
            time.sleep(0.1)
        raise AssertionError(f"timed out; received: {[r['type'] for r in self.events()][-20:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)


def start_daemon(env: dict, events: str, control: str, *args: str, stdin=None) -> subprocess.Popen:
    cmd = STENOD + ["run", "--model", "bundled:tiny.en", "--events", events, "--control", control, *args]
    return subprocess.Popen(cmd, env=env, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_to_end(env: dict, tmp: Path, *args: str, timeout: float = 400) -> tuple[list[dict], str]:
    """Run the daemon with ``args`` (a finite source and ``--exit-at-end``) until it exits 0, recording
    its events: ``(events, stderr)``."""
    events, ctl = free_endpoint(tmp, "events"), free_endpoint(tmp, "control")
    rec = Recorder(events, tmp / "events.jsonl")
    daemon = start_daemon(env, events, ctl, *args)
    try:
        _, stderr = daemon.communicate(timeout=timeout)
    finally:
        daemon.kill()
    rec.wait_for(lambda rows: any(r["type"] == "status" and r["state"] == "stopped" for r in rows), 10)
    rec.stop()
    assert daemon.returncode == 0, stderr
    return rec.events(), stderr


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

"""The daemon decoding on the real `stenod serve` (Ray Serve, the bundled model): the same finals as
the local model, from a daemon that cannot import torch, and none lost when the Serve replica is
killed in the middle of a session."""

from __future__ import annotations

import os
import signal

import pytest

from conftest import free_endpoint
from daemon_helpers import Recorder
from remote_fixtures import LIGHT, finals, local_finals, run_light, short, start_daemon_cmd  # noqa: F401
from serve_fixtures import serve_server  # noqa: F401

pytestmark = pytest.mark.slow


def replica_pid(server) -> int:
    status, body = server.json("GET", "/v1/stenod/status")
    assert status == 200, body
    return body["replica"]["pid"]


def token_file(server, tmp_path):
    path = tmp_path / "token"
    path.write_text(server.token + "\n")
    path.chmod(0o600)
    return path


def test_daemon_on_stenod_serve_gives_the_local_finals(stenod_env, serve_server, short, local_finals, tmp_path):
    events, stderr = run_light(stenod_env, tmp_path, "--remote", serve_server.url, "--token-file",
                               str(token_file(serve_server, tmp_path)), "--source", f"file:{short[0]}",
                               "--speed", "0", "--exit-at-end", "--set", "journal.enabled=false")
    assert finals(events) == local_finals
    assert "heavy modules: none" in stderr and f"ready on remote:{serve_server.url} (" in stderr, stderr


def test_a_replica_killed_mid_session_loses_no_final(stenod_env, serve_server, short, local_finals, tmp_path):
    """Real time: after the first final the replica's worker process is SIGKILLed; Ray starts
    another, the daemon's requests are retried, and every final arrives, as the local model gave it."""
    events_ep, ctl = free_endpoint(tmp_path, "events"), free_endpoint(tmp_path, "control")
    rec = Recorder(events_ep, tmp_path / "events.jsonl")
    daemon = start_daemon_cmd(LIGHT, stenod_env, events_ep, ctl, "--remote", serve_server.url, "--token-file",
                              str(token_file(serve_server, tmp_path)), "--source", f"file:{short[0]}",
                              "--exit-at-end", "--set", "journal.enabled=false", "--set", "model.timeout_s=10")
    try:
        rec.wait_for(lambda rows: len(finals(rows)) >= 1, 120)
        old = replica_pid(serve_server)
        os.kill(old, signal.SIGKILL)
        _, stderr = daemon.communicate(timeout=400)
    finally:
        daemon.kill()
    rec.wait_for(lambda rows: any(r["type"] == "status" and r["state"] == "stopped" for r in rows), 10)
    rec.stop()
    assert daemon.returncode == 0, stderr
    assert finals(rec.events()) == local_finals
    assert replica_pid(serve_server) != old  # the finals after the kill came from the new replica

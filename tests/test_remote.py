"""The daemon with the remote backend, end to end: the real daemon (with torch and transformers
made unimportable), the real model behind a real HTTP service (remote_fixtures), the corpus."""

from __future__ import annotations

import time

import pytest

from conftest import free_endpoint
from daemon_helpers import Recorder, run_to_end
from remote_fixtures import (LIGHT, UTTERANCES, finals, free_port, local_finals, remote_service,  # noqa: F401
                             remote_states, run_light, short, start_daemon_cmd)

pytestmark = pytest.mark.slow


def test_remote_finals_equal_local_without_torch(stenod_env, remote_service, short, local_finals, tmp_path):
    assert len(local_finals) == UTTERANCES
    events, stderr = run_light(stenod_env, tmp_path, "--remote", remote_service.url, "--source", f"file:{short[0]}",
                               "--speed", "0", "--exit-at-end", "--set", "journal.enabled=false")
    assert finals(events) == local_finals
    assert "heavy modules: none" in stderr  # neither torch nor transformers, nor silero-vad's torch API
    # (the daemon's log, not its first status events: with no model to load it is ready before a
    # subscriber that connects at the same time can receive them)
    assert f"ready on remote:{remote_service.url} (" in stderr, stderr
    assert all(f["model"] == "bundled:tiny.en" for f in events if f["type"] == "final")


def test_openai_api_finals_close_to_local(stenod_env, remote_service, short, local_finals, tmp_path):
    """The same service through its OpenAI route: the prompt travels as text, the guards run on
    verbose_json; the text may differ where the prompt was cut at another place."""
    import jiwer

    events, stderr = run_light(stenod_env, tmp_path, "--remote", f"openai+{remote_service.url}/v1",
                               "--token-file", str(remote_service.token_file), "--model", "bundled:tiny.en",
                               "--source", f"file:{short[0]}", "--speed", "0", "--exit-at-end",
                               "--set", "journal.enabled=false")
    got = finals(events)
    assert len(got) == UTTERANCES, got
    assert jiwer.wer(" ".join(local_finals), " ".join(got)) <= 0.05, (got, local_finals)
    assert "heavy modules: none" in stderr


def test_service_stopped_mid_session_loses_no_final(stenod_env, remote_service, short, local_finals, tmp_path):
    """Real time: the service goes away after the first final and comes back ~10 s later; every
    final arrives, in order, and status events say unreachable, then reachable."""
    events_ep, ctl = free_endpoint(tmp_path, "events"), free_endpoint(tmp_path, "control")
    rec = Recorder(events_ep, tmp_path / "events.jsonl")
    daemon = start_daemon_cmd(LIGHT, stenod_env, events_ep, ctl, "--remote", remote_service.url,
                              "--source", f"file:{short[0]}", "--exit-at-end", "--set", "journal.enabled=false",
                              "--set", "model.timeout_s=5", "--set", "model.retries=1")
    try:
        rec.wait_for(lambda rows: len(finals(rows)) >= 1, 120)
        remote_service.stop()
        rec.wait_for(lambda rows: any(s["state"] == "unreachable" for s in remote_states(rows)), 60)
        time.sleep(6)  # speech goes on while the service is down
        remote_service.start()
        _, stderr = daemon.communicate(timeout=300)
    finally:
        daemon.kill()
        if remote_service.proc is None or remote_service.proc.poll() is not None:
            remote_service.start()  # for the other tests of the module
    rec.wait_for(lambda rows: any(r["type"] == "status" and r["state"] == "stopped" for r in rows), 10)
    rec.stop()
    assert daemon.returncode == 0, stderr
    events = rec.events()
    assert finals(events) == local_finals
    states = remote_states(events)
    down = [i for i, s in enumerate(states) if s["state"] == "unreachable"]
    up = [i for i, s in enumerate(states) if s["state"] == "reachable"]
    assert down and up and down[0] < up[-1], states
    assert states[down[0]]["url"] == remote_service.url and states[down[0]]["since_mono_ns"] > 0
    assert any(s["queued_finals"] >= 1 for s in states if s["state"] == "unreachable"), states
    assert states[-1]["state"] == "reachable" and states[-1]["queued_finals"] == 0


def test_fallback_local_when_the_service_is_absent(stenod_env, short, local_finals, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    events, stderr = _fallback_run(stenod_env, tmp_path, url, short[0])
    assert finals(events) == local_finals
    states = remote_states(events)
    assert states and all(s["state"] == "unreachable" for s in states), states
    assert states[-1]["decoding"] == "local", states
    assert "decoding with the local model" in stderr


def _fallback_run(env: dict, tmp, url: str, wav) -> tuple[list[dict], str]:
    token = tmp / "token"
    token.write_text("secret\n")
    token.chmod(0o600)
    return run_to_end(env, tmp, "--remote", url, "--token-file", str(token), "--source", f"file:{wav}",
                      "--speed", "0", "--exit-at-end", "--set", "journal.enabled=false",
                      "--set", "model.fallback=local", "--set", "model.timeout_s=2", "--set", "model.retries=0")

"""The remote backend's failures: clear errors at start (bad URL, missing or refused token, no
service), a 401 for a request without the token, retries that honour cancel(), the config keys."""

from __future__ import annotations

import subprocess
import threading
import time

import numpy as np
import pytest
import requests

from conftest import free_endpoint
from model_fixtures import STENOD
from remote_fixtures import free_port, json_service, remote_service  # noqa: F401
from stenod.config import Config, ConfigError, ModelConfig, apply_overrides
from stenod.remote.backend import RemoteBackend
from stenod.remote.link import Cancelled, Link, RemoteAuthError, Unreachable
from stenod.remote.native import NativeApi
from stenod.types import DecodeRequest


def run_cli(env: dict, tmp, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(STENOD + ["run", "--events", free_endpoint(tmp, "events"), "--control",
                                    free_endpoint(tmp, "control"), "--source", "-", *args],
                          env=env, input="", capture_output=True, text=True, timeout=120)


def assert_clear(out: subprocess.CompletedProcess, *words: str) -> None:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr
    for w in words:
        assert w in out.stderr, out.stderr


def test_bad_url_names_the_key(stenod_env, tmp_path):
    assert_clear(run_cli(stenod_env, tmp_path, "--remote", "ftp://host"), "remote:", "openai+http://")
    assert_clear(run_cli(stenod_env, tmp_path, "--remote", "http://"), "remote:")


def test_missing_token_is_a_clear_error(stenod_env, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    assert_clear(run_cli(stenod_env, tmp_path, "--remote", url, "--token-file", str(tmp_path / "nope")),
                 "token_file:", "nope", "stenod serve")
    loose = tmp_path / "loose"
    loose.write_text("x\n")
    loose.chmod(0o644)
    assert_clear(run_cli(stenod_env, tmp_path, "--remote", url, "--token-file", str(loose)), "chmod 600")


def test_absent_service_is_a_clear_error(stenod_env, tmp_path):
    token = tmp_path / "token"
    token.write_text("secret\n")
    token.chmod(0o600)
    out = run_cli(stenod_env, tmp_path, "--remote", f"http://127.0.0.1:{free_port()}", "--token-file", str(token),
                  "--set", "model.retries=0")
    assert_clear(out, "cannot reach the inference service", "fallback")


@pytest.mark.slow
def test_refused_token_and_401(stenod_env, remote_service, tmp_path):
    r = requests.get(remote_service.url + "/v1/stenod/status", timeout=30)
    assert r.status_code == 401
    r = requests.post(remote_service.url + "/v1/audio/transcriptions", timeout=30,
                      files={"file": ("a.wav", b"RIFF")}, data={"response_format": "verbose_json"})
    assert r.status_code == 401
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token\n")
    wrong.chmod(0o600)
    assert_clear(run_cli(stenod_env, tmp_path, "--remote", remote_service.url, "--token-file", str(wrong)),
                 "refused the token (HTTP 401)")
    link = Link(remote_service.url, "not-the-token", 30, 0)
    with pytest.raises(RemoteAuthError):
        NativeApi(link).decode([DecodeRequest(np.zeros(8000, np.float32))], must=True, cancel=None)


def test_retries_honour_cancel_and_report_unreachable():
    link = Link(f"http://127.0.0.1:{free_port()}", None, 1.0, 100)
    states = []
    link.watch(states.append)
    stop_at = time.monotonic() + 0.8
    started = time.monotonic()
    with pytest.raises(Cancelled):
        link.post("/x", json={}, must=True, cancel=lambda: time.monotonic() > stop_at)
    assert time.monotonic() - started < 3
    assert not states  # 100 retries were not spent: not yet reported unreachable
    link.retries = 1
    with pytest.raises(Unreachable):
        link.post("/x", json={})
    assert [s.state for s in states] == ["unreachable"] and states[0].queued_finals == 0


def test_a_final_waits_for_the_service_and_is_counted(tmp_path):
    """A request without cancel() keeps trying (queued_finals 1) until the service listens."""
    port = free_port()
    link = Link(f"http://127.0.0.1:{port}", None, 1.0, 0)
    states = []
    backend = RemoteBackend(link, NativeApi(link), on_change=states.append)
    out = []
    t = threading.Thread(target=lambda: out.append(backend.encode_prompt(["Nguyen"], "", 8)))
    t.start()
    deadline = time.monotonic() + 10
    while not any(s["queued_finals"] == 1 for s in states):
        assert time.monotonic() < deadline, states
        time.sleep(0.05)

    with json_service(port, lambda method, body: {"tokens": [7, 8]}):
        t.join(timeout=10)
        assert out == [[7, 8]]
        assert states[-1]["state"] == "reachable" and states[-1]["queued_finals"] == 0
        assert backend.encode_prompt(["Nguyen"], "", 8) == [7, 8]  # cached by its arguments


@pytest.mark.parametrize("key, value, message", [
    ("model.remote", "tcp://host:1", "remote:"),
    ("model.fallback", "cloud", "fallback"),
    ("model.timeout_s", "0", "timeout_s"),
    ("model.retries", "-1", "retries"),
])
def test_config_keys_are_checked(key, value, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Config(), {key: value})


def test_config_keys_accept_good_values():
    m = ModelConfig(remote="openai+https://api.example.com/v1", token_file="~/t", fallback="local",
                    timeout_s=3, retries=0)
    assert m.timeout_s == 3.0 and m.fallback == "local"
    with pytest.raises(ValueError, match="token_file"):
        ModelConfig(token_file=" ")


class _Stage:
    """A stand-in for the local model in a unit test of the fallback's switching (one stage)."""

    name, device = "local-stand-in", "cpu"

    def warm_up(self) -> None:
        pass

    def encode_prompt(self, vocabulary, context, max_tokens):
        return [1]

    def transcribe_batch(self, requests):
        from stenod.types import Transcript

        return [Transcript(text="local") for _ in requests]

    def status(self):
        from stenod.asr.api import BackendStatus

        return BackendStatus(mode="plain", device="cpu", dtype="float32", attention="sdpa")


def test_fallback_switches_to_local_and_back():
    from stenod.remote import link as link_module
    from stenod.serve.wire import transcript_to_wire
    from stenod.types import Transcript

    port = free_port()
    link = Link(f"http://127.0.0.1:{port}", None, 1.0, 0)
    states = []
    backend = RemoteBackend(link, NativeApi(link), on_change=states.append, fallback=_Stage)
    backend.warm_up()  # nothing listens: starts on the local model
    req = [DecodeRequest(np.zeros(8000, np.float32))]
    assert backend.transcribe_batch(req)[0].text == "local" and backend.name == "local-stand-in"
    assert states[-1]["state"] == "unreachable" and states[-1]["decoding"] == "local"

    def answer(method, body):
        if method == "GET":
            return {"wire_version": 1, "name": "svc-model", "device": "cuda",
                    "status": {"mode": "plain", "device": "cuda", "dtype": "float16", "attention": "sdpa"}}
        return {"results": [transcript_to_wire(Transcript(text="remote"))] * len(body["requests"])}

    with json_service(port, answer):
        time.sleep(link_module.PROBE_S + 0.2)  # the next request probes the service
        assert backend.transcribe_batch(req)[0].text == "remote"
        assert backend.name == "svc-model" and backend.device == f"remote:{link.url} (cuda)"
        assert states[-1]["state"] == "reachable" and states[-1]["decoding"] == "remote"

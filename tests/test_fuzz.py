"""Fuzzed inputs: config files and control requests. The config loader only ever returns a
Config or raises ConfigError; the daemon answers every control request with a well-formed reply
and keeps running."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import free_endpoint
from daemon_helpers import start_daemon, wait_ready
from stenod.config import SECTIONS, Config, ConfigError, apply_overrides, config_from_dict, load_config
from stenod.protocol import parse_reply

KEYS = {name: [f.name for f in __import__("dataclasses").fields(cls)] for name, cls in SECTIONS.items()}
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["auto", "cpu", "mic", "-", "tcp://x:1", "ipc:///tmp/a",
                                                           "inf", "nan", "0", "on", "bundled:tiny.en"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                           inner, max_size=3),
                      max_leaves=6)
sections = st.one_of(st.sampled_from(list(SECTIONS)), st.text(max_size=8))


@st.composite
def documents(draw):
    doc = {}
    for section in draw(st.lists(sections, max_size=4)):
        keys = KEYS.get(section, []) + ["bogus"]
        doc[section] = draw(st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), values, max_size=4))
    if draw(st.booleans()):
        doc[draw(sections)] = draw(scalars)  # a section that is not a table
    return doc


@settings(max_examples=300, deadline=None)
@given(documents())
def test_config_documents_give_a_config_or_a_clear_error(doc):
    try:
        cfg = config_from_dict(doc, "fuzz.toml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml: ")
    else:
        assert isinstance(cfg, Config)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=16), st.text(max_size=12), max_size=4))
def test_overrides_give_a_config_or_a_clear_error(overrides):
    try:
        apply_overrides(Config(), overrides)
    except ConfigError as exc:
        assert str(exc).startswith("override ")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_config_files_of_any_bytes_load_or_fail_clearly(tmp_path, data):
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


@pytest.fixture(scope="module")
def daemon(stenod_env, bundled_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    events, ctl = free_endpoint(tmp, "ev"), free_endpoint(tmp, "ctl")
    proc = start_daemon(stenod_env, events, ctl, "--source", "-", stdin=subprocess.PIPE)
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(ctl)
    try:
        wait_ready(stenod_env, ctl)
        yield proc, sock, ctl, stenod_env
    finally:
        sock.close()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=8)
commands = st.sampled_from(["status", "snapshot", "pause", "resume", "", "STATUS", "shutdown ", "x" * 300]) | st.text(
    max_size=12).filter(lambda c: c != "shutdown")
requests = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda cmd, extra: json.dumps({"cmd": cmd, **extra}).encode(), commands,
              st.dictionaries(st.text(max_size=6).filter(lambda k: k != "cmd"), json_values, max_size=3)),
    st.builds(lambda cmd: json.dumps({"cmd": cmd}).encode(), json_values),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(requests, min_size=1, max_size=2))
def test_the_daemon_answers_every_control_request(daemon, frames):
    proc, sock, _, _ = daemon
    sock.send_multipart([b"", *frames])  # DEALER: an empty delimiter, then the request frame(s)
    assert sock.poll(10_000), "no reply"
    reply_frames = sock.recv_multipart()
    assert reply_frames[0] == b""
    reply = parse_reply(reply_frames[-1])
    if not reply["ok"]:
        assert reply["error"].strip()
    assert proc.poll() is None


def test_the_daemon_is_still_well_after_the_fuzzing(daemon):
    proc, sock, ctl, env = daemon
    sock.send_multipart([b"", b'{"cmd": "resume"}'])  # a fuzzed pause may be left over
    assert sock.poll(10_000) and parse_reply(sock.recv_multipart()[-1]) == {"ok": True, "state": "ready"}
    status = wait_ready(env, ctl, timeout=10)
    assert status["counters"]["bad_requests"] > 0

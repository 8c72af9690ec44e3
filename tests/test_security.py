"""Who can listen: ipc sockets in a directory only the user can open (fixed or refused at start),
tcp:// only with CURVE keys, and then only authorized client keys receive anything."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time

import zmq

from conftest import free_endpoint
from daemon_helpers import control, start_daemon, wait_ready
from model_fixtures import STENOD


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runtime_dir_mode_is_fixed_and_open_dirs_refused(stenod_env, bundled_model, tmp_path):
    run = tmp_path / "run"
    (run / "stenod").mkdir(parents=True)
    os.chmod(run / "stenod", 0o755)
    env = {**stenod_env, "XDG_RUNTIME_DIR": str(run)}
    proc = subprocess.Popen(STENOD + ["run", "--model", "bundled:tiny.en", "--source", "-"], env=env,
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(env, f"ipc://{run / 'stenod' / 'control'}")
        assert stat.S_IMODE((run / "stenod").stat().st_mode) == 0o700
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "had mode 755; set to 700" in err, err
    open_dir = tmp_path / "shared"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    out = subprocess.run(STENOD + ["run", "--model", "bundled:tiny.en", "--source", "-",
                                   "--events", f"ipc://{open_dir}/ev", "--control", f"ipc://{tmp_path}/ctl"],
                         env=stenod_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "open to other users" in out.stderr, out.stderr
    assert stat.S_IMODE(open_dir.stat().st_mode) == 0o777  # not ours to change


def test_tcp_without_keys_is_refused_at_start(stenod_env, tmp_path):
    env = {**stenod_env, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    out = subprocess.run(STENOD + ["run", "--model", "bundled:tiny.en", "--source", "-",
                                   "--events", f"tcp://127.0.0.1:{_port()}", "--control", free_endpoint(tmp_path, "c")],
                         env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "refusing tcp://127.0.0.1" in out.stderr and "stenod keys generate" in out.stderr, out.stderr


def _sub(endpoint: str, keys: tuple[bytes, bytes] | None, server_key: bytes | None) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        sock.curve_publickey, sock.curve_secretkey = keys
        sock.curve_serverkey = server_key
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(endpoint)
    return sock


def _received(sock: zmq.Socket, seconds: float) -> list[list[bytes]]:
    got, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if sock.poll(left * 1000):
            got.append(sock.recv_multipart())
    return got


def test_only_authorized_curve_clients_receive_anything(stenod_env, bundled_model, tmp_path):
    import zmq.auth

    env = {**stenod_env, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    gen = subprocess.run(STENOD + ["keys", "generate"], env=env, capture_output=True, text=True, timeout=30)
    assert gen.returncode == 0, gen.stderr
    keys = tmp_path / "config" / "stenod" / "keys"
    for secret in keys.glob("*.key_secret"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    again = subprocess.run(STENOD + ["keys", "generate"], env=env, capture_output=True, text=True, timeout=30)
    assert again.returncode == 2 and "already exist" in again.stderr
    events, ctl = f"tcp://127.0.0.1:{_port()}", f"tcp://127.0.0.1:{_port()}"
    proc = start_daemon(env, events, ctl, "--source", "-", stdin=subprocess.PIPE)
    server_public = zmq.auth.load_certificate(str(keys / "server.key"))[0]
    good = _sub(events, zmq.auth.load_certificate(str(keys / "client.key_secret")), server_public)
    stranger = _sub(events, zmq.curve_keypair(), server_public)
    plain = _sub(events, None, None)
    try:
        status = wait_ready(env, ctl)  # `stenod status` loads the client keys from the same config
        assert status["state"] == "ready"
        assert any(b"heartbeat" in frames[0] for frames in _received(good, 3.0))
        assert _received(stranger, 1.0) == [] and _received(plain, 1.0) == []
        req = zmq.Context.instance().socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.curve_publickey, req.curve_secretkey = zmq.curve_keypair()
        req.curve_serverkey = server_public
        req.connect(ctl)
        req.send(json.dumps({"cmd": "snapshot"}).encode())
        assert req.poll(2000) == 0  # an unknown key gets no answer
        req.close()
        other = {**stenod_env, "XDG_CONFIG_HOME": str(tmp_path / "elsewhere")}
        out = control(other, ctl, "status")
        assert out.returncode != 0 and "stenod keys generate" in out.stderr, out.stderr
    finally:
        for s in (good, stranger, plain):
            s.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err

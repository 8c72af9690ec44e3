"""`stenod serve` with the bundled model on a free port, started once per test module (a local Ray
takes several seconds to start on two cores) and stopped with SIGTERM, as a user would."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from model_fixtures import STENOD
from remote_fixtures import free_port


@dataclass
class Server:
    url: str
    token: str
    proc: subprocess.Popen
    log: list[str] = field(default_factory=list)  # its stderr, read by a thread

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
             token: str | None = "", timeout: float = 120) -> tuple[int, bytes]:
        """(status, body) of one HTTP request; `token` None sends no Authorization header, "" the real one."""
        headers = {"Content-Type": content_type} if body is not None else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token or self.token}"
        req = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, method: str, path: str, payload: object = None, **kw) -> tuple[int, dict]:
        status, body = self.call(method, path, None if payload is None else json.dumps(payload).encode(), **kw)
        return status, json.loads(body)


def start_serve(env: dict, tmp: Path, *args: str, timeout: float = 300) -> Server:
    token_file = tmp / "serve.token"
    port = free_port()
    proc = subprocess.Popen(STENOD + ["serve", "--model", "bundled:tiny.en", "--port", str(port),
                                      "--token-file", str(token_file), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # Ray's processes stay out of pytest's group
    server = Server(url="", token="", proc=proc)
    threading.Thread(target=lambda: server.log.extend(proc.stderr), daemon=True).start()
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()
    try:
        line = lines.get(timeout=timeout)  # the URL, once every replica is up
    except queue.Empty:
        line = ""
    if not line.startswith("http://"):
        stop_serve(server)
        raise AssertionError(f"stenod serve did not start: {line!r}\n{''.join(server.log)[-4000:]}")
    server.url, server.token = line.strip(), token_file.read_text().strip()
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    return server


def stop_serve(server: Server, timeout: float = 90) -> int:
    """SIGTERM, then the exit status (killed after `timeout`)."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
    try:
        return server.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
        raise AssertionError(f"stenod serve did not stop within {timeout} s of SIGTERM") from None


@pytest.fixture(scope="module")
def serve_server(stenod_env, bundled_model, tmp_path_factory) -> Iterator[Server]:
    """One service for the module: one CPU replica, batches of up to 8 gathered for 50 ms."""
    server = start_serve(stenod_env, tmp_path_factory.mktemp("serve"), "--max-batch-size", "8",
                         "--batch-wait-ms", "50")
    yield server
    rc = stop_serve(server)
    assert rc == 0, "".join(server.log)[-4000:]

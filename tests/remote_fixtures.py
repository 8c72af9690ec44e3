"""An inference service for the remote backend's tests, as "a base URL and a token file": the
stand-in of remote_standin.py in a process of its own, which a test can stop and start again on
the same port (the real `stenod serve` can take its place behind the same interface)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import free_endpoint
from daemon_helpers import Recorder, run_to_end

STANDIN = Path(__file__).with_name("remote_standin.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def json_service(port: int, answer: Callable[[str, object], object]) -> Iterator[None]:
    """A tiny HTTP service on `port` answering every GET and POST with the JSON of
    `answer(method, the request's JSON body or None)`, while the block runs."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self._send(answer("GET", None))

        def do_POST(self):  # noqa: N802
            self._send(answer("POST", json.loads(self.rfile.read(int(self.headers["Content-Length"])))))

        def _send(self, obj):
            body = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Service:
    url: str
    token_file: Path
    env: dict
    port: int
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, timeout: float = 180) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.proc = subprocess.Popen([sys.executable, str(STANDIN), str(self.port), str(self.token_file)],
                                     env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # after the model is loaded
        assert '"ready"' in line, self.proc.stderr.read() if self.proc.poll() is not None else line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("the stand-in service did not listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def remote_service(stenod_env, bundled_model, tmp_path_factory) -> Iterator[Service]:
    """A running service; its token file is where `stenod serve` keeps it for `stenod_env`."""
    from stenod.serve.token import token_path

    port = free_port()
    svc = Service(f"http://127.0.0.1:{port}", token_path(stenod_env), dict(stenod_env), port)
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


NO_TORCH = """\
import sys
for name in ("torch", "transformers"):
    sys.modules[name] = None  # `import torch` now fails, as where it is not installed
from stenod.cli import main
rc = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m, mod in sys.modules.items() if mod is not None
                and m.split(".")[0] in ("torch", "transformers", "silero_vad", "accelerate")})
print("heavy modules:", ",".join(heavy) or "none", file=sys.stderr)
sys.exit(rc)
"""
"""A stenod command line run where torch and transformers cannot be imported (the light install's
condition); it says on its last stderr line which heavy modules it imported anyway."""


def short_session(corpus, n: int, path: Path) -> tuple[Path, list[str]]:
    """The corpus session's first `n` utterances as a WAV file (cut in the pause after the n-th),
    with their reference texts."""
    import soundfile

    utts = corpus.session["utterances"]
    audio, rate = soundfile.read(corpus.session["path"], dtype="int16")
    cut = (utts[n - 1]["end"] + utts[n]["start"]) / 2 if n < len(utts) else len(audio) / rate
    soundfile.write(path, audio[: int(cut * rate)], rate)
    return path, [u["text"] for u in utts[:n]]


def start_daemon_cmd(cmd: list[str], env: dict, events: str, control: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*cmd, "run", "--events", events, "--control", control, *args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


LIGHT = [sys.executable, "-c", NO_TORCH]  # a stenod command line without torch or transformers
UTTERANCES = 5  # of the corpus session in `short`


def finals(events: list[dict]) -> list[str]:
    return [e["text"] for e in events if e["type"] == "final"]


def remote_states(events: list[dict]) -> list[dict]:
    return [e["detail"]["remote"] for e in events if e["type"] == "status" and "remote" in e.get("detail", {})]


def run_light(env: dict, tmp, *args: str, timeout: float = 400) -> tuple[list[dict], str]:
    events, ctl = free_endpoint(tmp, "events"), free_endpoint(tmp, "control")
    rec = Recorder(events, tmp / "events.jsonl")
    daemon = start_daemon_cmd(LIGHT, env, events, ctl, *args)
    try:
        _, stderr = daemon.communicate(timeout=timeout)
    finally:
        daemon.kill()
    rec.wait_for(lambda rows: any(r["type"] == "status" and r["state"] in ("stopped", "error") for r in rows), 10)
    rec.stop()
    assert daemon.returncode == 0, stderr
    return rec.events(), stderr


@pytest.fixture(scope="module")
def short(corpus, tmp_path_factory):
    return short_session(corpus, UTTERANCES, tmp_path_factory.mktemp("remote") / "short.wav")


@pytest.fixture(scope="module")
def local_finals(stenod_env, bundled_model, short, tmp_path_factory) -> list[str]:
    events, _ = run_to_end(stenod_env, tmp_path_factory.mktemp("local"), "--source", f"file:{short[0]}",
                           "--speed", "0", "--exit-at-end", "--set", "journal.enabled=false")
    return finals(events)

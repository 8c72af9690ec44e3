"""`stenod web` against a stand-in daemon on real sockets: JSON routes, downloads, the event
stream's snapshot and unchanged bodies, restarts, an absent daemon, and the access token."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from caption_fixtures import start_web
from fake_daemon import FakeDaemon, final, partial
from model_fixtures import STENOD
from stenod.protocol import encode


def get(url: str, headers: dict | None = None) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def get_json(url: str) -> dict:
    status, body, _ = get(url)
    assert status == 200, body
    return json.loads(body)


async def ws_messages(url: str, count: int, *, send: str | None = None, timeout: float = 15) -> list[dict | str]:
    """The first ``count`` messages of ``/ws`` (raw text for event bodies, parsed otherwise)."""
    out: list = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        if send:
            await ws.send_str(send)
        async with asyncio.timeout(timeout):
            while len(out) < count:
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                out.append(msg.data)
    return out


@pytest.fixture
def env(stenod_env, tmp_path):
    return {**stenod_env, "XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_routes_and_downloads(env, endpoint):
    ev, ct = endpoint("events"), endpoint("control")
    with FakeDaemon(ev, ct) as daemon:
        daemon.publish(final(1, "Before the server started."))
        web = start_web(env, ev, ct)
        try:
            daemon.wait_subscribed(15)
            status = get_json(web.url + "api/status")
            assert status["daemon"]["session"] == daemon.session and status["error"] is None
            daemon.publish(partial(2, 1, "second sen", 7))
            second = daemon.publish(final(2, "Second sentence <here> & now."))
            snap = get_json(web.url + "api/snapshot")
            for _ in range(50):
                if snap["seq"] >= second.seq:
                    break
                snap = get_json(web.url + "api/snapshot")
            assert snap["type"] == "web.snapshot" and snap["session"] == daemon.session
            assert [f["text"] for f in snap["finals"]] == ["Before the server started.", "Second sentence <here> & now."]
            assert snap["partial"] is None
            status, srt, headers = get(web.url + "transcript.srt")
            assert status == 200 and headers["Content-Type"].startswith("application/x-subrip")
            assert f'filename="stenod-{daemon.session[:8]}.srt"' in headers["Content-Disposition"]
            assert "1\n00:00:00,000 --> " in srt and "\n\n2\n" in srt
            status, vtt, _ = get(web.url + "transcript.vtt")
            assert vtt.startswith("WEBVTT") and "&lt;here&gt; &amp; now" in vtt
            status, txt, _ = get(web.url + "transcript.txt")
            assert txt.splitlines()[1] == "[00:00:00.000] Second sentence <here> & now."
            assert get(web.url + "transcript.doc")[0] == 404
            for page, marker in (("", 'id="captions"'), ("transcript", 'id="transcript"'),
                                 ("static/stenod.js", "web.snapshot")):
                status, body, _ = get(web.url + page)
                assert status == 200 and marker in body
        finally:
            assert web.stop() == 0


def test_event_stream_snapshot_then_unchanged_bodies_and_restart(env, endpoint):
    ev, ct = endpoint("events"), endpoint("control")
    with FakeDaemon(ev, ct, heartbeat_s=None) as daemon:
        daemon.publish(final(1, "History."))
        web = start_web(env, ev, ct)
        try:
            daemon.wait_subscribed(15)
            get_json(web.url + "api/status")  # the bridge is in sync once the snapshot is in
            ws_url = web.url.replace("http", "ws") + "ws"

            async def scenario():
                async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
                    first = json.loads((await ws.receive(timeout=10)).data)
                    sent = [daemon.publish(partial(2, 1, "live part", 4)), daemon.publish(final(2, "Live final."))]
                    live = [(await ws.receive(timeout=10)).data for _ in sent]
                    await ws.send_str("snapshot")
                    again = json.loads((await ws.receive(timeout=10)).data)
                    new_session = daemon.restart()
                    daemon.publish(final(1, "After the restart."))
                    after = [json.loads((await ws.receive(timeout=10)).data) for _ in range(2)]
                    return first, sent, live, again, new_session, after

            first, sent, live, again, new_session, after = asyncio.run(scenario())
            assert first["type"] == "web.snapshot" and [f["text"] for f in first["finals"]] == ["History."]
            assert live == [encode(e)[1].decode() for e in sent]
            assert again["type"] == "web.snapshot" and again["seq"] == sent[-1].seq
            assert [f["text"] for f in again["finals"]] == ["History.", "Live final."]
            assert after[0] == {"type": "web.daemon", "state": "restarted", "session": new_session,
                                "old_session": first["session"]}
            assert after[1]["type"] == "web.snapshot" and after[1]["session"] == new_session
            assert [f["text"] for f in after[1]["finals"]] == ["After the restart."]
        finally:
            assert web.stop() == 0


def test_absent_daemon_then_it_starts(env, endpoint):
    ev, ct = endpoint("events"), endpoint("control")
    web = start_web(env, ev, ct)
    try:
        ws_url = web.url.replace("http", "ws") + "ws"
        status = get_json(web.url + "api/status")
        assert status["daemon"] is None and "no stenod daemon answering" in status["error"]
        assert status["bridge"]["daemon"] == "waiting"
        (first,) = asyncio.run(ws_messages(ws_url, 1))
        assert json.loads(first)["daemon"] == "waiting"
        with FakeDaemon(ev, ct) as daemon:
            daemon.wait_subscribed(15)
            daemon.publish(final(1, "Now it is here."))
            for _ in range(100):
                snap = get_json(web.url + "api/snapshot")
                if snap["finals"]:
                    break
                asyncio.run(asyncio.sleep(0.1))
            assert snap["daemon"] == "connected" and snap["session"] == daemon.session
            assert [f["text"] for f in snap["finals"]] == ["Now it is here."]
    finally:
        assert web.stop() == 0


def test_non_local_listen_needs_the_token(env, endpoint, tmp_path):
    ev, ct = endpoint("events"), endpoint("control")
    web = start_web(env, ev, ct, listen="127.0.0.2:0")
    try:
        assert web.url.startswith("http://127.0.0.2:") and web.token
        path = Path(env["XDG_CONFIG_HOME"]) / "stenod" / "web-token"
        assert path.read_text().strip() == web.token and stat.S_IMODE(path.stat().st_mode) == 0o600
        for route in ("", "transcript", "api/status", "api/snapshot", "transcript.srt", "ws"):
            status, body, headers = get(web.url + route)
            assert status == 401 and "token" in body and headers["WWW-Authenticate"].startswith("Bearer"), route
            assert get(web.url + route + "?token=wrong")[0] == 401
        assert get(web.address(""))[0] == 200
        assert get(web.url + "api/snapshot", {"Authorization": f"Bearer {web.token}"})[0] == 200
        assert get(web.url + "static/caption.js")[0] == 200  # package files are public
    finally:
        assert web.stop() == 0
    again = start_web(env, ev, ct, listen="127.0.0.2:0")  # the token is kept across runs
    try:
        assert again.token == web.token
    finally:
        assert again.stop() == 0


def test_help_and_bad_input(env):
    for command in ("web", "captions"):
        out = subprocess.run(STENOD + [command, "--help"], env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "examples:" in out.stdout and "import torch" not in out.stdout
    cases = [(["web", "--listen", "nohost"], "listen: expected HOST:PORT"),
             (["web", "--set", "web.colour=1"], "unknown key"),
             (["captions", "--size", "2"], "size: must be in 6..200"),
             (["captions", "--colour", "#12"], "colour: expected a colour")]
    for args, message in cases:
        out = subprocess.run(STENOD + args, env={**env, "DISPLAY": ":999"}, capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
    busy = start_web(env, "ipc:///nonexistent/e", "ipc:///nonexistent/c")
    try:
        taken = busy.url.removeprefix("http://").rstrip("/")
        out = subprocess.run(STENOD + ["web", "--listen", taken], env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and f"cannot listen on {taken}" in out.stderr, out.stderr
    finally:
        assert busy.stop() == 0
    out = subprocess.run(STENOD + ["captions"], env={k: v for k, v in env.items() if k != "DISPLAY"},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "DISPLAY is not set" in out.stderr


def test_clients_do_not_import_torch(env):
    code = ("import sys, stenod.web.app, stenod.clients.captions, stenod.commands.web, stenod.commands.captions;"
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([STENOD[0], "-c", code], env=env, timeout=60).returncode == 0


def test_sigterm_with_a_browser_connected(env, endpoint):
    ev, ct = endpoint("events"), endpoint("control")
    web = start_web(env, ev, ct)
    ws_url = web.url.replace("http", "ws") + "ws"

    async def scenario():
        async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
            assert json.loads((await ws.receive(timeout=10)).data)["type"] == "web.snapshot"
            code = await asyncio.get_running_loop().run_in_executor(None, web.stop)
            closing = await ws.receive(timeout=5)
            return code, closing.type

    code, closing = asyncio.run(scenario())
    assert code == 0 and closing in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


def test_other_sites_cannot_read_the_stream(env, endpoint):
    ev, ct = endpoint("events"), endpoint("control")
    web = start_web(env, ev, ct)
    port = web.url.rsplit(":", 1)[1].rstrip("/")
    try:
        status, body, _ = get(web.url + "api/snapshot", {"Host": f"rebound.example:{port}"})
        assert status == 403 and "rebound.example" in body  # a domain pointed at 127.0.0.1
        assert get(web.url + "api/snapshot", {"Host": f"localhost:{port}"})[0] == 200
        ws_url = web.url.replace("http", "ws") + "ws"

        async def connect(origin: str) -> int | str:
            async with aiohttp.ClientSession() as http:
                try:
                    async with http.ws_connect(ws_url, origin=origin) as ws:
                        return json.loads((await ws.receive(timeout=10)).data)["type"]
                except aiohttp.WSServerHandshakeError as exc:
                    return exc.status

        assert asyncio.run(connect("http://evil.example")) == 403
        assert asyncio.run(connect(web.url.rstrip("/"))) == "web.snapshot"
    finally:
        assert web.stop() == 0

"""The aiohttp application of ``stenod web``: pages, the live event stream, JSON and downloads.

Routes:

* ``/``: the caption page; ``/transcript``: the whole session with timestamps and downloads;
  ``/static/...``: their scripts and styles (package data beside this module);
* ``/ws``: a WebSocket carrying a ``web.snapshot`` first, then the daemon's event bodies unchanged
  and ``web.daemon`` notices (see docs/protocol.md); a browser sends the text ``snapshot`` to get
  a fresh snapshot (after it saw a gap in ``seq``);
* ``/api/status``: the daemon's status reply (asked live) and the bridge's state;
  ``/api/snapshot``: the ``web.snapshot`` object;
* ``/transcript.srt``, ``.vtt``, ``.txt``: the session's finals as subtitles or text.

With a token (non-local listening) every route but ``/static/`` answers 401 unless the request
carries it; without one, only requests addressed to a loopback name are answered. The event stream
refuses pages from other origins either way.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from stenod.clients.control import DaemonError, DaemonUnavailable, request
from stenod.subtitles import FORMATS, MEDIA_TYPES, render
from stenod.web.auth import LOCAL_HOSTS, presented_token, token_ok
from stenod.web.bridge import Bridge

STATIC = Path(__file__).with_name("static")
BRIDGE = web.AppKey("bridge", Bridge)
SOCKETS = web.AppKey("sockets", set)
STATUS_TIMEOUT_S = 1.0


def _auth_middleware(token: str):
    @web.middleware
    async def check(req: web.Request, handler):
        if req.path.startswith("/static/"):
            return await handler(req)  # the pages' scripts and styles: package files, nothing private
        if not token_ok(token, presented_token(req.query, req.headers)):
            raise web.HTTPUnauthorized(
                text="401 Unauthorized: this stenod web server needs its access token "
                     "(?token=... or an 'Authorization: Bearer' header); `stenod web` prints the URL with it.\n",
                headers={"WWW-Authenticate": 'Bearer realm="stenod"'})
        return await handler(req)
    return check


def _hostname(host: str) -> str:
    """``host`` of a ``Host`` header or an origin's netloc, without port and brackets."""
    return urlsplit(f"//{host}").hostname or ""


@web.middleware
async def _loopback_names_only(req: web.Request, handler):
    """Without a token, answer only requests addressed to this machine by a loopback name: a web
    page whose domain was pointed at 127.0.0.1 (DNS rebinding) must not read the transcript."""
    if _hostname(req.host) not in LOCAL_HOSTS:
        raise web.HTTPForbidden(text=f"403 Forbidden: stenod web answers here only to "
                                     f"{', '.join(sorted(LOCAL_HOSTS))}, not {req.host!r}\n")
    return await handler(req)


def _page(name: str):
    async def handler(req: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})
    return handler


async def events(req: web.Request) -> web.WebSocketResponse:
    bridge = req.app[BRIDGE]
    origin = req.headers.get("Origin")
    if origin and _hostname(urlsplit(origin).netloc) != _hostname(req.host):
        # Browsers let any page open a WebSocket anywhere; only our own pages may read this one.
        raise web.HTTPForbidden(text=f"403 Forbidden: no event stream for pages from {origin}\n")
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(req)
    listener = bridge.listen()
    req.app[SOCKETS].add(ws)

    async def send() -> None:
        while True:
            await ws.send_str(await listener.queue.get())

    sender = asyncio.create_task(send())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data.strip() == "snapshot":
                listener.resync()
    finally:
        req.app[SOCKETS].discard(ws)
        bridge.forget(listener)
        sender.cancel()
    return ws


async def api_status(req: web.Request) -> web.Response:
    bridge = req.app[BRIDGE]
    state = bridge.state
    loop = asyncio.get_running_loop()
    try:  # a socket of its own, made and used in one executor thread
        daemon = await loop.run_in_executor(None, lambda: request(bridge.control_endpoint, "status",
                                                                  STATUS_TIMEOUT_S))
        error = None
    except (DaemonUnavailable, DaemonError) as exc:
        daemon, error = None, str(exc)
    return web.json_response({"bridge": {"daemon": state.daemon, "session": state.session, "seq": state.seq,
                                         "finals": len(state.finals), "browsers": bridge.listeners},
                              "daemon": daemon, "error": error})


async def api_snapshot(req: web.Request) -> web.Response:
    return web.json_response(req.app[BRIDGE].state.snapshot())


async def download(req: web.Request) -> web.Response:
    fmt = req.match_info["fmt"]
    if fmt not in FORMATS:
        raise web.HTTPNotFound(text=f"no transcript format {fmt!r} (known: {', '.join(FORMATS)})\n")
    state = req.app[BRIDGE].state
    name = f"stenod-{(state.session or 'transcript')[:8]}.{fmt}"
    return web.Response(text=render(state.finals, fmt), content_type=MEDIA_TYPES[fmt], charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def make_app(bridge: Bridge, token: str | None) -> web.Application:
    """The application around ``bridge``; ``token``: required on every request, or None."""
    app = web.Application(middlewares=[_auth_middleware(token) if token else _loopback_names_only])
    app[BRIDGE] = bridge
    app[SOCKETS] = set()
    app.router.add_get("/", _page("caption.html"))
    app.router.add_get("/transcript", _page("transcript.html"))
    app.router.add_get("/transcript.{fmt}", download)
    app.router.add_get("/ws", events)
    app.router.add_get("/api/status", api_status)
    app.router.add_get("/api/snapshot", api_snapshot)
    app.router.add_static("/static/", STATIC)

    async def start_bridge(app: web.Application) -> None:
        bridge.start()

    async def stop_bridge(app: web.Application) -> None:
        await bridge.stop()

    async def close_sockets(app: web.Application) -> None:  # else shutting down waits for browsers
        for ws in list(app[SOCKETS]):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"stenod web is stopping")

    app.on_startup.append(start_bridge)
    app.on_shutdown.append(close_sockets)
    app.on_cleanup.append(stop_bridge)
    return app


__all__ = ["make_app", "BRIDGE", "STATIC"]

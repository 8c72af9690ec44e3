"""`stenod web`: live captions and the transcript in a browser (or an OBS browser source)."""

from __future__ import annotations

import argparse

from stenod.commands.options import add_config_options, load_with_flags

FLAGS = {"listen": "web.listen", "token_file": "web.token_file"}

EXAMPLES = """examples:
  stenod web                              http://127.0.0.1:8765/ on this machine only
  stenod web --listen 0.0.0.0:8765        on the network; prints the URL with the access token

pages (URL parameters on /: size=48 lines=2 color=ffd700 partial=aaaaaa bg=transparent
font=Arial stream=NAME; add token=... when listening beyond this machine):
  /              the live caption page          /transcript    the session, with downloads
  /transcript.srt  .vtt  .txt                   /api/status    /api/snapshot    /ws (events)"""


def register(sub) -> None:
    p = sub.add_parser(
        "web", help="serve live captions and the transcript to browsers",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="A small web server that follows the daemon: a caption page (transparent background "
                    "for OBS browser sources), a transcript page with SRT/VTT/text downloads, a WebSocket "
                    "with the daemon's events and JSON status. Listening on any address but 127.0.0.1, ::1 "
                    "or localhost requires an access token, made at first use and kept (mode 0600) in "
                    "$XDG_CONFIG_HOME/stenod/web-token. Needs the web extra: pip install 'stenod[web]'.")
    add_config_options(p)
    p.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (default 127.0.0.1:8765; port 0 "
                                                         "picks a free one)")
    p.add_argument("--token-file", metavar="PATH", help="where the access token is kept "
                                                       "(default $XDG_CONFIG_HOME/stenod/web-token)")
    p.set_defaults(func=run)


def _url(host: str, port: int) -> str:
    """The page's address for ``host`` and ``port`` (IPv6 hosts in brackets)."""
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


async def _serve(app, host: str, port: int, token: str | None) -> int:
    """Serve until SIGINT/SIGTERM (0) or until following the daemon failed (1)."""
    import asyncio
    import signal
    import socket
    import sys

    from aiohttp import web

    from stenod.web.app import BRIDGE

    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            from stenod.cli import UserError

            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        for bound_host, bound_port, *_ in runner.addresses:
            if bound_host in ("0.0.0.0", "::"):  # every interface: name one that others can reach
                bound_host = socket.gethostname()
            url = _url(bound_host, bound_port)
            suffix = f"?token={token}" if token else ""
            print(f"stenod: captions at {url}{suffix}  transcript at {url}transcript{suffix}", file=sys.stderr,
                  flush=True)
        failed = asyncio.create_task(app[BRIDGE].failed.wait())
        await asyncio.wait([asyncio.create_task(stop.wait()), failed], return_when=asyncio.FIRST_COMPLETED)
        return 1 if failed.done() else 0
    finally:
        await runner.cleanup()


def run(args) -> int:
    import asyncio

    from stenod.cli import UserError
    from stenod.config import parse_listen

    cfg, events, control = load_with_flags(args, FLAGS)
    try:
        from stenod.web.app import make_app
    except ImportError as exc:
        raise UserError(f"stenod web needs the web extra ({exc.name} is missing): "
                        "pip install 'stenod[web]'") from None
    from pathlib import Path

    from stenod.clients.subscriber import Subscriber
    from stenod.web.auth import TokenError, default_token_path, load_or_create_token, needs_token
    from stenod.web.bridge import Bridge

    host, port = parse_listen(cfg.web.listen)
    token = None
    if needs_token(host):
        path = Path(cfg.web.token_file).expanduser() if cfg.web.token_file else default_token_path()
        try:
            token = load_or_create_token(path)
        except TokenError as exc:
            raise UserError(str(exc)) from None
    try:
        subscriber = Subscriber(events, control, history=None, timeout=1.0)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    app = make_app(Bridge(subscriber), token)
    try:
        return asyncio.run(_serve(app, host, port, token))
    except KeyboardInterrupt:
        return 0

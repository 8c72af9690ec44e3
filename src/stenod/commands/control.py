"""`stenod status|pause|resume|stop|dictation|toggle|ptt`: one request to the running daemon's
control socket (`stenod status --follow` keeps following the daemon's state instead)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

# subcommand -> (control command, help, example)
ACTIONS = {
    "status": ("status", "show the daemon's state, model, counters and latency",
               "stenod status\n  stenod status --json\n  stenod status --follow --waybar    # for a status bar"),
    "pause": ("pause", "stop transcribing until 'stenod resume' (audio is discarded meanwhile)", "stenod pause"),
    "resume": ("resume", "resume transcribing after 'stenod pause'", "stenod resume"),
    "stop": ("shutdown", "ask the daemon to finish and exit", "stenod stop"),
    "dictation": ("dictation", "turn dictation on or off: typing and clipboard clients act only on what "
                               "is said while it is on", "stenod dictation off\n  stenod dictation toggle"),
    "toggle": ("dictation", "turn dictation on if it is off, off if it is on (the same as "
                            "'stenod dictation toggle')", "stenod toggle"),
    "ptt": ("ptt", "push-to-talk: 'start' turns dictation on while a key is held, 'stop' puts back "
                   "the state from before", "stenod ptt start    # key pressed\n  stenod ptt stop     # key released"),
}


def register(sub) -> None:
    for name, (cmd, help_text, example) in ACTIONS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                           epilog=f"examples:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == "dictation":
            p.add_argument("state", choices=("on", "off", "toggle"), help="the new state, or toggle")
        elif name == "ptt":
            p.add_argument("action", choices=("start", "stop"), help="start when the key is pressed, "
                                                                    "stop when it is released")
        p.add_argument("--control", metavar="ENDPOINT", help="control endpoint (default: from the config "
                                                             "file, else ipc://$XDG_RUNTIME_DIR/stenod/control)")
        p.add_argument("--json", action="store_true", help="print the daemon's reply as JSON")
        p.add_argument("--timeout", type=float, default=2.0, metavar="S",
                       help="seconds to wait for the daemon (default 2)")
        if name == "status":
            p.add_argument("--follow", action="store_true",
                           help="keep running and print a line each time the state changes (waits for the "
                                "daemon and follows it through restarts; Ctrl-C to stop)")
            p.add_argument("--waybar", action="store_true",
                           help="with --follow: one JSON object a line (text, tooltip, class, alt) for "
                                "Waybar, polybar or i3blocks custom modules")
            p.add_argument("--events", metavar="ENDPOINT", help="with --follow: events endpoint (default: from "
                                                                "the config file)")
        p.set_defaults(func=run, control_cmd=cmd)


def _fields(args) -> dict[str, str]:
    """The request's arguments beside ``cmd``."""
    if args.command == "dictation":
        return {"state": args.state}
    if args.command == "toggle":
        return {"state": "toggle"}
    if args.command == "ptt":
        return {"action": args.action}
    return {}


def _ms(value: Any) -> str:
    return "–" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.0f} ms"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    s = int(seconds)
    h, m = divmod(s // 60, 60)
    return f"{h}h {m:02d}m {s % 60:02d}s" if h else f"{m}m {s % 60:02d}s" if m else f"{seconds:.1f} s"


def _pairs(mapping: Any) -> str:
    if not isinstance(mapping, Mapping) or not mapping:
        return "–"
    return ", ".join(f"{k.replace('_', ' ')} {_text(v)}" for k, v in mapping.items())


def _text(value: Any) -> str:
    """A reply value for people: a dash for none (e.g. no model while it is still loading)."""
    return "–" if value is None or value == "" else str(value)


def format_status(reply: Mapping[str, Any]) -> str:
    """The status reply as a few aligned lines for a person; unknown fields are left out."""
    lines = [
        ("state", _text(reply.get("state"))),
        *([("dictation", _text(reply["dictation"]))] if "dictation" in reply else []),  # older daemons: none
        ("session", _text(reply.get("session"))),
        ("model", _text(reply.get("model")) + (f" on {reply['device']}" if reply.get("device") else "")),
        ("source", _text(reply.get("source"))),
        ("uptime", _duration(reply.get("uptime_s"))),
        ("seq", _text(reply.get("seq"))),
        ("counters", _pairs(reply.get("counters"))),
    ]
    latency = reply.get("latency_ms")
    if isinstance(latency, Mapping):
        for i, (name, stats) in enumerate(latency.items()):
            stats = stats if isinstance(stats, Mapping) else {}
            lines.append(("latency" if i == 0 else "", f"{name.replace('_', ' ')} p50 {_ms(stats.get('p50'))}, "
                                                       f"p95 {_ms(stats.get('p95'))}, max {_ms(stats.get('max'))}"))
    if reply.get("decoding"):
        lines.append(("decoding", _pairs(reply["decoding"])))
    streams = reply.get("streams")
    if isinstance(streams, list) and len(streams) > 1:  # one stream: the lines above say it all
        for i, st in enumerate(s for s in streams if isinstance(s, Mapping)):
            lines.append(("streams" if i == 0 else "", f"{_text(st.get('label'))}: {_text(st.get('source'))}, "
                                                       f"{_text(st.get('state'))}; {_pairs(st.get('counters'))}"))
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}".rstrip() for k, v in lines)


def _summary(action: str, reply: Mapping[str, Any]) -> str:
    state = reply.get("state", "?")
    if action in ("dictation", "toggle", "ptt"):
        return f"dictation {reply.get('dictation', '?')}"
    return {"pause": f"daemon paused (state: {state})", "resume": f"daemon resumed (state: {state})",
            "stop": f"daemon stopping (state: {state})"}.get(action, json.dumps(reply))


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.clients.control import DaemonError, DaemonUnavailable, request, resolve_client_endpoints

    if not args.timeout > 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.command == "status" and (args.follow or args.waybar or args.events):
        if not args.follow:
            raise UserError("--waybar and --events go with --follow (stenod status --follow --waybar)")
        from stenod.clients.statusbar import follow

        return follow(args.events, args.control, waybar=args.waybar)
    try:
        control = args.control or resolve_client_endpoints()[1]
        reply = request(control, args.control_cmd, timeout=args.timeout, check=False, **_fields(args))
    except (DaemonUnavailable, DaemonError) as exc:
        print(f"stenod: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a bad endpoint or config file
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps(reply, ensure_ascii=False))
        return 0 if reply["ok"] else 1
    if not reply["ok"]:
        print(f"stenod: daemon refused {args.control_cmd!r}: {reply['error']}", file=sys.stderr)
        return 1
    print(format_status(reply) if args.command == "status" else _summary(args.command, reply))
    return 0

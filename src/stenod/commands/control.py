"""`stenod status|pause|resume|stop`: one request to the running daemon's control socket."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

# subcommand -> (control command, help)
ACTIONS = {
    "status": ("status", "show the daemon's state, model, counters and latency"),
    "pause": ("pause", "stop transcribing until 'stenod resume' (audio is discarded meanwhile)"),
    "resume": ("resume", "resume transcribing after 'stenod pause'"),
    "stop": ("shutdown", "ask the daemon to finish and exit"),
}


def register(sub) -> None:
    for name, (cmd, help_text) in ACTIONS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        p.add_argument("--control", metavar="ENDPOINT", help="control endpoint (default: from the config "
                                                             "file, else ipc://$XDG_RUNTIME_DIR/stenod/control)")
        p.add_argument("--json", action="store_true", help="print the daemon's reply as JSON")
        p.add_argument("--timeout", type=float, default=2.0, metavar="S",
                       help="seconds to wait for the daemon (default 2)")
        p.set_defaults(func=run, control_cmd=cmd)


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
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}".rstrip() for k, v in lines)


def _summary(action: str, reply: Mapping[str, Any]) -> str:
    state = reply.get("state", "?")
    return {"pause": f"daemon paused (state: {state})", "resume": f"daemon resumed (state: {state})",
            "stop": f"daemon stopping (state: {state})"}.get(action, json.dumps(reply))


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.clients.control import DaemonError, DaemonUnavailable, request, resolve_client_endpoints

    if not args.timeout > 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    try:
        control = args.control or resolve_client_endpoints()[1]
        reply = request(control, args.control_cmd, timeout=args.timeout, check=False)
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

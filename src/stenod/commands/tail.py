"""`stenod tail`: follow the daemon's transcripts in a terminal (or as JSON lines)."""

from __future__ import annotations

import argparse
import os
import signal
import sys


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def register(sub) -> None:
    p = sub.add_parser(
        "tail", help="show live transcripts from the running daemon",
        description="Follow the daemon's transcripts: the current utterance is rewritten in place as "
                    "it is recognised (the part that may still change is dimmed) and each finished "
                    "utterance stays on its own line. Waits for the daemon if it is not running yet; "
                    "Ctrl-C to stop.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  stenod tail\n  stenod tail --stream them      # one stream of a meeting daemon\n"
               "  stenod tail --json --history 0")
    p.add_argument("--events", metavar="ENDPOINT", help="events endpoint (default: from the config file, "
                                                        "else ipc://$XDG_RUNTIME_DIR/stenod/events)")
    p.add_argument("--control", metavar="ENDPOINT", help="control endpoint (default: from the config file, "
                                                         "else ipc://$XDG_RUNTIME_DIR/stenod/control)")
    p.add_argument("--stream", metavar="LABEL",
                   help="only this stream's transcripts (a daemon with several --source LABEL=...); "
                        "without it, lines are labelled [LABEL] when there are several")
    p.add_argument("--json", action="store_true", help="print every event body as received, one JSON object a line")
    p.add_argument("--no-color", action="store_true", help="no ANSI colours (also: NO_COLOR=1)")
    p.add_argument("--history", type=_count, default=10, metavar="N",
                   help="on connecting, first show the last N finished utterances (default 10; 0 for none)")
    p.set_defaults(func=run)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.clients.control import resolve_client_endpoints
    from stenod.clients.subscriber import Subscriber
    from stenod.clients.terminal import TerminalView

    try:
        events, control = resolve_client_endpoints(args.events, args.control)
        subscriber = Subscriber(events, control, history=args.history)
    except ValueError as exc:  # ConfigError is a ValueError too
        raise UserError(str(exc)) from None
    view = TerminalView(json_mode=args.json, color=False if args.no_color else None, stream=args.stream)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for item in subscriber:
            view.handle(item)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # the reader went away (`stenod tail | head`): nothing left to do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        subscriber.close()
    try:
        view.close()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0

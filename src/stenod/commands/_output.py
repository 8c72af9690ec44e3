"""What `stenod type` and `stenod clip` share: their common options and start-up."""

from __future__ import annotations

import argparse
import re
from pathlib import Path


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", metavar="ENDPOINT", help="events endpoint (default: from the config file, "
                                                        "else ipc://$XDG_RUNTIME_DIR/stenod/events)")
    p.add_argument("--control", metavar="ENDPOINT", help="control endpoint (default: from the config file, "
                                                         "else ipc://$XDG_RUNTIME_DIR/stenod/control)")
    p.add_argument("--config", type=Path, metavar="FILE", help="config file (default: "
                                                               "$XDG_CONFIG_HOME/stenod/config.toml)")
    p.add_argument("--always", action="store_true",
                   help="act on every utterance, also those spoken while dictation was off")


def setup(args: argparse.Namespace):
    """``(config, events, control, desktop)``; :class:`~stenod.cli.UserError` for a bad config."""
    from stenod.cli import UserError
    from stenod.clients.output import Desktop
    from stenod.config import load_config, resolve_endpoints

    try:
        cfg = load_config(args.config)
        events, control = resolve_endpoints(cfg.sockets)
    except ValueError as exc:  # ConfigError
        raise UserError(str(exc)) from None
    return cfg, args.events or events, args.control or control, Desktop.detect()


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


def unescape(text: str) -> str:
    r"""``\n``, ``\t`` and ``\\`` in an option value, as typed on a shell line."""
    return re.sub(r"\\([nt\\])", lambda m: _ESCAPES[m.group(1)], text)


def say(name: str):
    import sys

    return lambda message: print(f"stenod {name}: {message}", file=sys.stderr, flush=True)

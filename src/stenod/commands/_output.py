"""What `stenod type` and `stenod clip` share: their common options and start-up."""

from __future__ import annotations

import argparse
import re

from stenod.commands.options import add_config_options, load_with_flags


def add_common(p: argparse.ArgumentParser) -> None:
    add_config_options(p)
    p.add_argument("--always", action="store_true",
                   help="act on every utterance, also those spoken while dictation was off")


def setup(args: argparse.Namespace):
    """``(config, events, control, desktop)``; :class:`~stenod.cli.UserError` for a bad config."""
    from stenod.clients.output import Desktop

    cfg, events, control = load_with_flags(args, {})
    return cfg, events, control, Desktop.detect()


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


def unescape(text: str) -> str:
    r"""``\n``, ``\t`` and ``\\`` in an option value, as typed on a shell line."""
    return re.sub(r"\\([nt\\])", lambda m: _ESCAPES[m.group(1)], text)


def say(name: str):
    import sys

    return lambda message: print(f"stenod {name}: {message}", file=sys.stderr, flush=True)

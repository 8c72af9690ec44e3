"""`stenod history`: the finals in the journal (no daemon needed)."""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since(value: str) -> timedelta:
    """``90s``, ``10m``, ``2h``, ``1d`` -> a timedelta (argparse type)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90s, 10m, 2h or 1d, got {value!r}")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def add_journal_options(p) -> None:
    p.add_argument("--config", type=Path, help="config file (default: $XDG_CONFIG_HOME/stenod/config.toml)")
    p.add_argument("--journal", type=Path, metavar="DIR",
                   help="journal directory (default: [journal] dir, else $XDG_STATE_HOME/stenod)")


def register(sub) -> None:
    p = sub.add_parser(
        "history", help="print the finished utterances kept in the journal",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print the finals the daemon journaled (every final is written to the journal before "
                    "it is published), oldest first. Works whether or not the daemon runs.",
        epilog="examples:\n  stenod history --since 10m\n  stenod history --json | jq -r .text")
    p.add_argument("--since", type=since, metavar="DURATION", help="only finals of the last DURATION (90s, 10m, 2h, 1d)")
    p.add_argument("--json", action="store_true", help="one final a line, its event body as published")
    add_journal_options(p)
    p.set_defaults(func=run)


def journal_bodies(args) -> list[dict]:
    """The journaled final bodies, oldest first, from --journal or the config."""
    from stenod.cli import UserError
    from stenod.config import ConfigError, journal_dir, load_config
    from stenod.daemon.journal import read_journal

    if args.journal is None:
        try:
            directory = journal_dir(load_config(args.config).journal)
        except ConfigError as exc:
            raise UserError(str(exc)) from None
    else:
        directory = args.journal
    if not directory.is_dir():
        raise UserError(f"no journal in {directory} (the daemon writes it once it has published a final)")
    return [b for b in read_journal(directory) if b.get("type") == "final" and isinstance(b.get("text"), str)]


def _wall(body: dict) -> datetime | None:
    try:
        return datetime.strptime(body["t_wall"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except (KeyError, TypeError, ValueError):
        return None


def run(args) -> int:
    bodies = journal_bodies(args)
    if args.since is not None:
        cutoff = datetime.now(timezone.utc) - args.since
        bodies = [b for b in bodies if (w := _wall(b)) is not None and w >= cutoff]
    for b in bodies:
        if args.json:
            print(json.dumps(b, ensure_ascii=False, separators=(",", ":")))
        elif b["text"]:
            w = _wall(b)
            when = w.astimezone().strftime("%Y-%m-%d %H:%M:%S") if w else "?"
            print(f"{when}  {b['text']}")
    return 0

"""Options shared by client commands: the config file, ``--set`` overrides and endpoint flags."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from pathlib import Path


def add_config_file_options(p: argparse.ArgumentParser, example: str = "captions.size=36") -> None:
    """``--config`` and ``--set``."""
    p.add_argument("--config", type=Path, help="config file (default: $XDG_CONFIG_HOME/stenod/config.toml)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help=f"override any config key, e.g. --set {example} (repeatable)")


def parse_sets(items: Iterable[str]) -> dict[str, str]:
    """``--set SECTION.KEY=VALUE`` items as ``{key: value}`` (validated later, by the config);
    raises UserError for an item without ``=``."""
    from stenod.cli import UserError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def add_config_options(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--set``, ``--events`` and ``--control``."""
    add_config_file_options(p)
    p.add_argument("--events", metavar="ENDPOINT", help="events endpoint (default: from the config file, "
                                                        "else ipc://$XDG_RUNTIME_DIR/stenod/events)")
    p.add_argument("--control", metavar="ENDPOINT", help="control endpoint (default: from the config file, "
                                                         "else ipc://$XDG_RUNTIME_DIR/stenod/control)")


def load_with_flags(args: argparse.Namespace, flags: Mapping[str, str]):
    """The config file with ``--set`` and then the dedicated ``flags`` (``{attribute: "section.key"}``)
    applied, validated, and the ``(events, control)`` endpoints; raises UserError naming the key."""
    from stenod.cli import UserError
    from stenod.config import ConfigError, apply_overrides, load_config, resolve_endpoints

    overrides: dict[str, object] = dict(parse_sets(args.set))
    overrides.update({key: getattr(args, attr) for attr, key in flags.items() if getattr(args, attr) is not None})
    try:
        cfg = apply_overrides(load_config(args.config), overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    events, control = resolve_endpoints(cfg.sockets)
    return cfg, args.events or events, args.control or control

"""Options shared by client commands: the config file, ``--set`` overrides and endpoint flags."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path


def add_config_options(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--set``, ``--events`` and ``--control``."""
    p.add_argument("--config", type=Path, help="config file (default: $XDG_CONFIG_HOME/stenod/config.toml)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any config key, e.g. --set captions.size=36 (repeatable)")
    p.add_argument("--events", metavar="ENDPOINT", help="events endpoint (default: from the config file, "
                                                        "else ipc://$XDG_RUNTIME_DIR/stenod/events)")
    p.add_argument("--control", metavar="ENDPOINT", help="control endpoint (default: from the config file, "
                                                         "else ipc://$XDG_RUNTIME_DIR/stenod/control)")


def load_with_flags(args: argparse.Namespace, flags: Mapping[str, str]):
    """The config file with ``--set`` and then the dedicated ``flags`` (``{attribute: "section.key"}``)
    applied, validated, and the ``(events, control)`` endpoints; raises UserError naming the key."""
    from stenod.cli import UserError
    from stenod.config import ConfigError, apply_overrides, load_config, resolve_endpoints

    overrides: dict[str, object] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        overrides[key.strip()] = value.strip()
    overrides.update({key: getattr(args, attr) for attr, key in flags.items() if getattr(args, attr) is not None})
    try:
        cfg = apply_overrides(load_config(args.config), overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    events, control = resolve_endpoints(cfg.sockets)
    return cfg, args.events or events, args.control or control

"""`stenod keys generate`: CURVE keys for tcp:// endpoints."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "keys", help="generate the CURVE keys that tcp:// endpoints require",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Generate the daemon's and this user's client CURVE key pairs (secret files 0600) in "
                    "[sockets] keys_dir (default $XDG_CONFIG_HOME/stenod/keys) and authorize the client key. "
                    "The daemon refuses tcp:// endpoints without them and lets in only the public keys in "
                    "keys_dir/authorized/; clients on tcp:// endpoints load client.key_secret and server.key "
                    "from the same directory. To let in another machine, copy this keys directory's "
                    "server.key and a client pair there, and its client.key into authorized/.",
        epilog="examples:\n  stenod keys generate\n"
               "  stenod run --events tcp://127.0.0.1:5555 --control tcp://127.0.0.1:5556")
    p.add_argument("action", choices=("generate",))
    p.add_argument("--force", action="store_true", help="replace existing keys (clients need the new ones)")
    p.add_argument("--config", help="config file (default: $XDG_CONFIG_HOME/stenod/config.toml)")
    p.set_defaults(func=run)


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.config import ConfigError, load_config
    from stenod.keys import CurveKeyError, Keys, keys_dir

    try:
        directory = keys_dir(load_config(args.config).sockets.keys_dir)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    try:
        written = Keys(directory).generate(force=args.force)
    except CurveKeyError as exc:
        raise UserError(str(exc)) from None
    for path in written:
        print(f"wrote {path}")
    print(f"authorized {directory / 'authorized' / 'client.key'}")
    return 0

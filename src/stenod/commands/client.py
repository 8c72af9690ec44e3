"""`stenod client NAME [options]`: run a client that another package registered.

A package adds a :class:`~stenod.clients.base.Client` subclass to the ``stenod.clients``
entry-point group (in its ``pyproject.toml``)::

    [project.entry-points."stenod.clients"]
    shout = "shout_client:Shout"

and ``stenod client shout`` runs it, with ``--always``, ``--events``, ``--control`` and the
options of the client's own :meth:`~stenod.clients.base.Client.add_arguments`.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import EntryPoint, entry_points

GROUP = "stenod.clients"

EXAMPLE = """\
examples:
  stenod client                      # list the installed clients
  stenod client shout --help         # a client's own options
  stenod client shout --always       # act on everything said, dictation on or off

A package registers a client (a stenod.clients.base.Client subclass) in its pyproject.toml:
  [project.entry-points."stenod.clients"]
  shout = "shout_client:Shout"
"""


def register(sub) -> None:
    p = sub.add_parser("client", help="run a client another package registered (stenod.clients entry points)",
                       description="Run a client registered under the 'stenod.clients' entry-point group. "
                                   "Without NAME, list the installed ones.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", metavar="NAME", help="the client's entry-point name")
    p.add_argument("client_args", nargs=argparse.REMAINDER, metavar="...",
                   help="the client's options (see 'stenod client NAME --help')")
    p.set_defaults(func=run)


def installed() -> dict[str, EntryPoint]:
    """Registered clients by name (the first distribution wins when two use one name)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def _listing(clients: dict[str, EntryPoint]) -> str:
    if not clients:
        return (f"no clients are installed; a package registers one under the {GROUP!r} entry-point group "
                "(see 'stenod client --help')")
    return "installed clients: " + ", ".join(f"{name} ({ep.value})" for name, ep in sorted(clients.items()))


def load(ep: EntryPoint) -> type:
    """The client class behind an entry point; UserError when it cannot be loaded or is no Client."""
    from stenod.cli import UserError
    from stenod.clients.base import Client

    try:
        cls = ep.load()
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported, not raised
        raise UserError(f"client {ep.name!r} ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Client)):
        raise UserError(f"client {ep.name!r} ({ep.value}) is not a stenod.clients.base.Client subclass")
    return cls


def build_parser(name: str, cls: type) -> argparse.ArgumentParser:
    doc = (cls.__doc__ or "").strip().split("\n\n")[0] or f"the {name} client"
    p = argparse.ArgumentParser(prog=f"stenod client {name}", description=doc,
                                epilog="Waits for the daemon, follows it through restarts; Ctrl-C or SIGTERM "
                                       "to stop.")
    p.add_argument("--always", action="store_true",
                   help="act on everything said, also while dictation is off (for gated clients)")
    p.add_argument("--events", metavar="ENDPOINT", help="events endpoint (default: from the config file, "
                                                        "else ipc://$XDG_RUNTIME_DIR/stenod/events)")
    p.add_argument("--control", metavar="ENDPOINT", help="control endpoint (default: from the config file, "
                                                         "else ipc://$XDG_RUNTIME_DIR/stenod/control)")
    cls.add_arguments(p)
    return p


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.clients.control import resolve_client_endpoints

    clients = installed()
    if args.name is None:
        print(_listing(clients))
        return 0
    if args.name not in clients:
        raise UserError(f"no client named {args.name!r}; {_listing(clients)}")
    cls = load(clients[args.name])
    options = build_parser(args.name, cls).parse_args(args.client_args)
    try:
        events, control = resolve_client_endpoints(options.events, options.control)
        client = cls.from_args(options, events, control)
    except ValueError as exc:  # a bad endpoint, config file or client option
        raise UserError(str(exc)) from None
    try:
        return client.run()
    except BrokenPipeError:  # the reader went away (`stenod client NAME | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

"""Where things live: the runtime directory (sockets), the state directory (journal), the endpoints."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from stenod.config.sections import JournalConfig, SocketsConfig


def runtime_dir(env: Mapping[str, str] | None = None) -> Path:
    """Directory for the daemon's sockets: ``$XDG_RUNTIME_DIR/stenod``, or ``/tmp/stenod-$UID``
    when XDG_RUNTIME_DIR is unset or empty. Creating it (mode 0700) is the publisher's job."""
    env = os.environ if env is None else env
    base = env.get("XDG_RUNTIME_DIR", "")
    if base:
        return Path(base) / "stenod"
    return Path(f"/tmp/stenod-{os.getuid()}")


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/stenod``, falling back to ``~/.local/state/stenod`` (XDG rules)."""
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(env.get("HOME") or str(Path.home()), ".local", "state")
    return Path(base) / "stenod"


def journal_dir(cfg: JournalConfig, env: Mapping[str, str] | None = None) -> Path:
    """Where the journal of finals lives: the configured directory or :func:`state_dir`."""
    return Path(cfg.dir).expanduser() if cfg.dir else state_dir(env)


def default_endpoints(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Default ``(events, control)`` endpoints: ipc sockets in :func:`runtime_dir`."""
    base = runtime_dir(env)
    return f"ipc://{base / 'events'}", f"ipc://{base / 'control'}"


def resolve_endpoints(sockets: SocketsConfig, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The ``(events, control)`` endpoints to use: configured ones, defaults for the rest."""
    events, control = default_endpoints(env)
    return sockets.events or events, sockets.control or control

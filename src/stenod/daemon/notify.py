"""systemd's notification protocol (sd_notify(3)): readiness, status, stopping and watchdog pings.

The protocol is one AF_UNIX datagram of newline-separated ``KEY=VALUE`` lines sent to the socket
named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace); the watchdog interval
comes from ``$WATCHDOG_USEC``, meant for us only when ``$WATCHDOG_PID`` is unset or our pid
(sd_watchdog_enabled(3)). That is small enough to keep here rather than depend on the `sdnotify`
package, which adds nothing over it (no watchdog interval parsing) and is unmaintained since 2017.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("stenod.notify")


def sd_notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `message` (e.g. ``"READY=1"``) to systemd; False (a no-op) outside a notify unit."""
    addr = (os.environ if env is None else env).get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto(message.encode(), addr)
        return True
    except OSError as exc:
        log.debug("sd_notify failed: %s", exc)
        return False


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout in seconds systemd expects pings within, or None when not enabled."""
    env = os.environ if env is None else env
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None

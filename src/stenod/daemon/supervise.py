"""Supervision of the stage threads, and the systemd watchdog fed only while they make progress.

The main thread calls :meth:`Supervisor.check` a few times a second. A supervised thread that
raised (seen through :func:`threading.excepthook`) or ended while it should still run is a fault:
`check` returns its description and the service stops with it, non-zero. The watchdog ping
(``WATCHDOG=1``) is sent every half interval only while no stage is stalled: a decode running
longer than half the interval, or a dead thread, stops the pings, and systemd restarts the unit.

Faults can be injected for tests with ``STENOD_FAULT=point:action[,point:action]`` where the
points are ``vad``, ``publish`` and ``decode`` and the action ``raise`` or ``hang``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from stenod.daemon.notify import sd_notify, watchdog_interval

log = logging.getLogger("stenod.supervise")


class InjectedFault(RuntimeError):
    """Raised at a fault point named in ``$STENOD_FAULT`` (tests only)."""


def _faults() -> dict[str, str]:
    spec = os.environ.get("STENOD_FAULT", "")
    return dict(item.split(":", 1) for item in spec.split(",") if ":" in item)


_FAULTS = _faults()


def fault_point(name: str) -> None:
    """Raise or hang here when ``$STENOD_FAULT`` asks for it; otherwise nothing."""
    action = _FAULTS.get(name)
    if action == "raise":
        raise InjectedFault(f"injected fault at {name}")
    if action == "hang":
        threading.Event().wait()


class Supervisor:
    def __init__(self, stalled: Callable[[float], bool], clock: Callable[[], float] = time.monotonic):
        """`stalled(limit_s)`: whether the inference worker has been stuck longer than `limit_s`."""
        self._stalled, self._clock = stalled, clock
        self._threads: list[tuple[threading.Thread, Callable[[], bool]]] = []
        self._crashes: dict[str, str] = {}
        self._lock = threading.Lock()
        self.watchdog_s = watchdog_interval()
        self._next_ping = 0.0
        self._withheld = False
        self._previous_hook = threading.excepthook

    def install(self) -> None:
        threading.excepthook = self._excepthook
        if self.watchdog_s:
            log.info("systemd watchdog: %.1f s", self.watchdog_s)

    def uninstall(self) -> None:
        threading.excepthook = self._previous_hook

    def _excepthook(self, args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else "?"
        with self._lock:
            self._crashes[name] = f"{args.exc_type.__name__}: {args.exc_value}"
        self._previous_hook(args)  # prints the traceback

    def watch(self, thread: threading.Thread, may_end: Callable[[], bool] = lambda: False) -> None:
        """Supervise `thread`; it may end without a fault once `may_end()` is true."""
        self._threads.append((thread, may_end))

    def fault(self) -> str | None:
        """The first fault seen: a thread that raised, or one that ended too early."""
        with self._lock:
            crashes = dict(self._crashes)
        for thread, may_end in self._threads:
            if thread.name in crashes:
                return f"{thread.name} thread failed: {crashes[thread.name]}"
            if thread.ident is not None and not thread.is_alive() and not may_end():
                return f"{thread.name} thread ended unexpectedly"
        for name, crash in crashes.items():  # any other thread of ours, e.g. capture
            return f"{name} thread failed: {crash}"
        return None

    def dead(self, name: str) -> bool:
        return any(t.name == name and t.ident is not None and not t.is_alive() for t, _ in self._threads)

    def check(self) -> str | None:
        """Called from the main loop: the fault, if any; pings the watchdog while all is well."""
        fault = self.fault()
        if self.watchdog_s and fault is None:
            now = self._clock()
            if now >= self._next_ping:
                stalled = self._stalled(self.watchdog_s / 2)
                if stalled and not self._withheld:
                    log.error("inference worker stalled: watchdog pings withheld")
                elif not stalled:
                    sd_notify("WATCHDOG=1")
                    self._next_ping = now + self.watchdog_s / 2
                self._withheld = stalled
        return fault

"""The daemon's state, with one owner: every change goes through :meth:`DaemonState.update` under
one lock, and the published state (``loading``, ``ready``, ``paused``, ``stopped``, ``error``) is
derived from the facts (model loaded, paused, stopped, error), so no ordering of a ``resume`` and
the model becoming ready can leave a stale name behind."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

Announce = Callable[[str, dict[str, Any]], None]
T = TypeVar("T")


class DaemonState:
    def __init__(self, announce: Announce):
        self._announce = announce
        self._lock = threading.Lock()
        self.paused = threading.Event()
        """Set while paused; read by the VAD thread (only :meth:`update` sets or clears it)."""
        self._loaded = self._stopped = False
        self._error: str | None = None
        self._name = "starting"

    @property
    def name(self) -> str:
        with self._lock:
            return self._name

    def report(self, send: Callable[[str], T]) -> T:
        """``send(name)`` with the lock held: an event it queues cannot be overtaken by a state
        change's announcement (the lock is always taken before the dictation gate's)."""
        with self._lock:
            return send(self._name)

    @property
    def error(self) -> str | None:
        with self._lock:
            return self._error

    def _derive(self) -> str:
        if self._stopped:
            return "error" if self._error else "stopped"
        if self.paused.is_set():
            return "paused"
        return "ready" if self._loaded else "loading"

    def update(self, *, loaded: bool | None = None, paused: bool | None = None, stopped: bool | None = None,
               error: str | None = None, announce: bool = False, **detail: Any) -> str:
        """Apply the given facts; announce the derived state when it changed (or `announce`: a
        new detail such as a reloaded model); return it. An error, once set, stays (the first one
        is the cause)."""
        with self._lock:
            if loaded is not None:
                self._loaded = loaded
            if paused is not None and not self._stopped:
                (self.paused.set if paused else self.paused.clear)()
            if stopped is not None:
                self._stopped = stopped
            if error is not None and self._error is None:
                self._error = error
            new = self._derive()
            if new != self._name or announce:
                self._name = new
                if self._error and new == "error":
                    detail = {"error": self._error, **detail}
                self._announce(new, detail)
            return new

"""What the web server knows of the daemon's session, and the messages it sends browsers.

:class:`SessionState` takes batches of :class:`~stenod.clients.subscriber.Subscriber` items and
keeps the current session's finals, the open utterance's newest partial, and whether the daemon is
there. For each batch it answers with the messages to send every browser:

* a batch of live events only → their JSON bodies exactly as the daemon published them;
* a batch with anything else (first contact, a restart, a resync after missed events, the daemon
  going silent or coming back) → a ``web.daemon`` message for each notice, then one
  ``web.snapshot``: the whole state with the ``seq`` it covers. A browser replaces what it shows
  with it and drops events whose ``seq`` it covers: the Clone rule, as for ZeroMQ clients.

Pure: no sockets, no threads, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from stenod.clients.subscriber import Back, Connected, Item, Received, Restarted, Resynced, Silent, Waiting
from stenod.protocol import Final, Partial

DaemonState = Literal["connecting", "waiting", "connected", "silent"]
MAX_FINALS = 20_000
"""Finals kept per session for the transcript page and downloads (oldest dropped first)."""


def _dumps(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class SessionState:
    """The bridge's view of the daemon; one owner (the server's event loop)."""

    def __init__(self) -> None:
        self.daemon: DaemonState = "connecting"
        self.session: str | None = None
        self.seq = 0
        self.status: Mapping[str, Any] | None = None
        self._finals: dict[int, tuple[Final, str]] = {}
        self._partial: tuple[Partial, str] | None = None

    @property
    def finals(self) -> list[Final]:
        """This session's finals, in ``seq`` order."""
        return [f for f, _ in self._finals.values()]

    def apply(self, items: Iterable[Item], last_seq: int) -> list[str]:
        """Take one batch of items; ``last_seq`` is the subscriber's ``seq`` after it. Returns the
        messages for browsers (JSON text)."""
        live: list[str] = []
        notices: list[str] = []
        discontinuous = False
        for item in items:
            if isinstance(item, Received):
                self._take(item.event, item.raw.decode("utf-8"))
                if item.origin == "live":
                    live.append(item.raw.decode("utf-8"))
                else:
                    discontinuous = True  # a final from a snapshot: browsers get one too
            else:
                notices.append(self._notice(item))
                discontinuous = True
        self.seq = last_seq
        if not discontinuous:
            return live
        return notices + [self.snapshot_message()]

    def snapshot(self) -> dict[str, Any]:
        """The state as a ``web.snapshot`` object (also what ``/api/snapshot`` returns)."""
        return {"type": "web.snapshot", "daemon": self.daemon, "session": self.session, "seq": self.seq,
                "finals": [json.loads(raw) for _, raw in self._finals.values()],
                "partial": json.loads(self._partial[1]) if self._partial else None}

    def snapshot_message(self) -> str:
        return _dumps(self.snapshot())

    # ------------------------------------------------------------------------- internals

    def _take(self, event: object, raw: str) -> None:
        if isinstance(event, (Final, Partial)) and event.session != self.session:
            return  # the daemon's snapshot comes from its journal: earlier runs' finals are not this session's
        if isinstance(event, Final):
            self._finals.pop(event.utt, None)
            self._finals[event.utt] = (event, raw)
            while len(self._finals) > MAX_FINALS:
                del self._finals[next(iter(self._finals))]
            if self._partial is not None and self._partial[0].utt <= event.utt:
                self._partial = None
        elif isinstance(event, Partial):
            closed = event.utt in self._finals
            older = (self._partial is not None and self._partial[0].utt == event.utt
                     and event.rev < self._partial[0].rev)
            if not closed and not older:
                self._partial = (event, raw)

    def _notice(self, item: Item) -> str:
        message: dict[str, Any]
        if isinstance(item, Waiting):
            self.daemon = "waiting"
            message = {"state": "waiting", "endpoint": item.endpoint}
        elif isinstance(item, Connected):
            self.daemon, self.session, self.status = "connected", item.session, item.status
            message = {"state": "connected", "session": item.session}
        elif isinstance(item, Restarted):
            self.daemon, self.session, self.status = "connected", item.session, item.status
            self._finals.clear()
            self._partial = None
            message = {"state": "restarted", "session": item.session, "old_session": item.old_session}
        elif isinstance(item, Resynced):
            message = {"state": "resynced", "session": self.session, "recovered": item.recovered}
        elif isinstance(item, Silent):
            self.daemon = "silent"
            message = {"state": "silent", "silent_s": item.silent_s}
        elif isinstance(item, Back):
            self.daemon = "connected"
            message = {"state": "connected", "session": item.session}
        else:  # pragma: no cover - every notice type is handled above
            raise TypeError(f"unexpected subscriber item {item!r}")
        return _dumps({"type": "web.daemon", **message})


__all__ = ["DaemonState", "MAX_FINALS", "SessionState"]

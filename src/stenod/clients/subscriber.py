"""Subscriber base for every stenod client: catch-up, gap and restart detection, liveness.

A :class:`Subscriber` connects a SUB socket to the daemon's events and a REQ socket to its control
socket and follows the ZeroMQ guide's Clone pattern: it subscribes first, then asks for a
``snapshot`` (recent finals and the last ``seq``), delivers those finals (``origin="history"``,
optionally only the last N) and drops live events whose ``seq`` the snapshot already covers.

Afterwards it watches the stream and recovers on its own:

* a jump in ``seq`` (missed events) → a new snapshot; finals it has not delivered yet are delivered
  with ``origin="recovered"`` (deduplicated by ``(session, stream, utt)``) and a :class:`Resynced` notice;
* a new ``session`` (the daemon restarted) → :class:`Restarted`, then the same catch-up;
* no message at all for ``silence_s`` (heartbeats come every second) → :class:`Silent`, and
  :class:`Back` (or :class:`Restarted`) once messages flow again.

It always subscribes to the whole ``stenod.v1.`` prefix, so that ``seq`` stays contiguous; the
``topics`` argument only filters what is delivered. Unknown topics are skipped (their ``seq`` still
counts); malformed events are logged once per topic and skipped.

Items come out of :meth:`Subscriber.poll` (for event loops that must not block) or by iterating
the subscriber. Everything here runs in the caller's thread: ZeroMQ sockets are not thread-safe.
The control-socket helpers (:func:`request`, :class:`DaemonUnavailable`, ...) live in
:mod:`stenod.clients.control` and are re-exported here.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

import zmq

from stenod.clients.control import (
    DEFAULT_TIMEOUT, ControlClient, DaemonError, DaemonUnavailable, curve, request, resolve_client_endpoints,
)  # fmt: skip
from stenod.protocol import TOPIC_FINAL, TOPIC_PREFIX, Event, Final, Heartbeat, ProtocolError, UnknownEvent, decode

log = logging.getLogger(__name__)

DEFAULT_SILENCE_S = 3.0
RECEIVE_HWM = 1000
"""Events ZeroMQ queues for a subscriber that is busy (RCVHWM); beyond that, and the daemon's own
queue for it, events are dropped and the ``seq`` gap leads to a snapshot."""
_MAX_REMEMBERED_UTTS = 10_000


# ------------------------------------------------------------------------------------ items

Origin = Literal["live", "history", "recovered"]


@dataclass(frozen=True)
class Received:
    """A protocol event. ``raw`` is its JSON body as sent (unknown fields included); ``origin`` is
    ``live``, ``history`` (a snapshot final from before this client connected) or ``recovered``
    (a snapshot final this client missed: after a gap, an outage or a restart)."""

    event: Event
    raw: bytes
    origin: Origin = "live"

    @property
    def replayed(self) -> bool:
        """True for finals taken from a snapshot rather than the live stream."""
        return self.origin != "live"


@dataclass(frozen=True)
class Waiting:
    """No daemon answered at start-up; the subscriber keeps listening for one."""

    endpoint: str


@dataclass(frozen=True)
class Connected:
    """First contact with a daemon; ``status`` is its status reply (None if it did not answer)."""

    session: str
    seq: int
    status: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Restarted:
    """The daemon restarted (a new ``session``); ``status`` as in :class:`Connected`."""

    old_session: str | None
    session: str
    status: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Resynced:
    """Events were missed (``seq`` jumped from ``expected`` to ``got``); ``recovered`` finals came back."""

    expected: int
    got: int
    recovered: int


@dataclass(frozen=True)
class Silent:
    """Nothing heard from the daemon for ``silent_s`` seconds; the subscriber keeps listening."""

    silent_s: float


@dataclass(frozen=True)
class Back:
    """The same daemon session is heard again after :class:`Silent`."""

    session: str


Notice = Union[Waiting, Connected, Restarted, Resynced, Silent, Back]
Item = Union[Received, Notice]


def _envelope(frames: list[bytes]) -> tuple[str, int] | None:
    """``(session, seq)`` of an event this version cannot decode, if its body shows them."""
    try:
        body = json.loads(frames[-1])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    session, seq = body.get("session"), body.get("seq")
    if isinstance(session, str) and isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0:
        return session, seq
    return None


class Subscriber:
    """Follows the daemon's event stream with catch-up and recovery; see the module docstring.

    ``history``: how many snapshot finals to deliver on first contact (None = all, 0 = none).
    ``timeout``: seconds to wait for a control reply. ``retry_s``: least time between resync tries.
    """

    def __init__(self, events: str, control: str, *, topics: Iterable[str] = (TOPIC_PREFIX,),
                 history: int | None = None, silence_s: float = DEFAULT_SILENCE_S,
                 timeout: float = DEFAULT_TIMEOUT, retry_s: float = 1.0, context: zmq.Context | None = None):
        self.events_endpoint, self.control_endpoint = events, control
        self._topics = tuple(topics)
        self._history, self._silence_s, self._retry_s = history, silence_s, retry_s
        self._ctx = context or zmq.Context.instance()
        self._ctl = ControlClient(control, timeout, context=self._ctx)
        self._sub: zmq.Socket | None = self._ctx.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
        # Dead TCP peers are noticed by the kernel's keepalive, not ZMTP heartbeats: those time out
        # while a busy subscriber's queue is full (libzmq stops reading the connection, PONGs
        # included) and the connection then stops delivering for good (libzmq issues 3937, 4767).
        self._sub.setsockopt(zmq.TCP_KEEPALIVE, 1)
        self._sub.setsockopt(zmq.TCP_KEEPALIVE_IDLE, 10)
        self._sub.setsockopt(zmq.TCP_KEEPALIVE_INTVL, 2)
        self._sub.setsockopt(zmq.TCP_KEEPALIVE_CNT, 3)
        self._sub.setsockopt(zmq.SUBSCRIBE, TOPIC_PREFIX.encode())
        try:
            curve(self._sub, events)
            self._sub.connect(events)
        except zmq.ZMQError as exc:
            self.close()
            raise ValueError(f"invalid ZeroMQ endpoint {events!r}: {exc}") from None
        self._state: Literal["new", "waiting", "synced", "lost"] = "new"
        self.session: str | None = None
        self.last_seq = 0
        self.status: Mapping[str, Any] | None = None
        self._heard = time.monotonic()
        self._next_sync = 0.0
        self._live_since_sync = 0
        self._delivered: set[tuple[str, str, int]] = set()  # (session, stream, utt) of finals delivered
        self._delivered_order: deque[tuple[str, str, int]] = deque()
        self._bad_topics: set[str] = set()

    # ---------------------------------------------------------------------------- public

    def poll(self, timeout: float | None = None) -> list[Item]:
        """Wait up to ``timeout`` s (None: until something happens) and return what arrived.

        A (re)sync waits for the control socket too, so a call may take up to the control
        ``timeout`` longer when the daemon is slow or gone (at most once per ``retry_s``)."""
        if self._sub is None:
            raise RuntimeError("subscriber is closed")
        out: list[Item] = []
        if self._state == "new":
            self._sync(out, "start")
            if out:
                timeout = 0.0
        wait = timeout
        if self._state == "synced":
            left = max(0.0, self._heard + self._silence_s - time.monotonic())
            wait = left if wait is None else min(wait, left)
        if self._sub.poll(None if wait is None else wait * 1000, zmq.POLLIN):
            for _ in range(1000):  # bounded, so silence checks still happen under a flood
                try:
                    frames = self._sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._handle(frames, out)
        if self._state == "synced" and time.monotonic() - self._heard > self._silence_s:
            self._state = "lost"
            out.append(Silent(self._silence_s))
        return out

    def __iter__(self) -> Iterator[Item]:
        while self._sub is not None:
            yield from self.poll(None)

    def close(self) -> None:
        """Close both sockets (LINGER 0); the shared context stays."""
        self._ctl.close()
        if self._sub is not None:
            self._sub.close(0)
            self._sub = None

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------- internals

    def _control(self, cmd: str) -> dict[str, Any] | None:
        """A control request; None if the daemon does not answer (or refuses, which is logged)."""
        try:
            return self._ctl.request(cmd)
        except DaemonUnavailable:
            return None
        except DaemonError as exc:
            log.warning("%s", exc)
            return None

    def _snapshot(self) -> tuple[str, int, list[tuple[Final, bytes]]] | None:
        reply = self._control("snapshot")
        if reply is None:
            return None
        session, seq, finals = reply.get("session"), reply.get("seq"), reply.get("finals")
        if not (isinstance(session, str) and session and isinstance(seq, int) and not isinstance(seq, bool)
                and seq >= 0 and isinstance(finals, list)):
            log.warning("malformed snapshot reply from %s", self.control_endpoint)
            return None
        decoded = []
        for body in finals:
            raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            try:
                event = decode([TOPIC_FINAL.encode(), raw])
            except ProtocolError as exc:
                log.warning("skipping a malformed final in the snapshot: %s", exc)
                continue
            decoded.append((event, raw))
        # oldest first: sessions in the order they come (a journal spans daemon runs), seq within one
        order = {s: i for i, s in reversed(list(enumerate(f.session for f, _ in decoded)))}
        decoded.sort(key=lambda pair: (order[pair[0].session], pair[0].seq))
        return session, seq, decoded

    def _sync(self, out: list[Item], reason: str, expected: int = 0, got: int = 0) -> bool:
        """Take a snapshot and catch up from it; False (and a retry later) if the daemon is mute."""
        snap = self._snapshot()
        if snap is None:
            self._next_sync = time.monotonic() + self._retry_s
            if self._state == "new":
                self._state = "waiting"
                out.append(Waiting(self.control_endpoint))
            return False
        session, seq, finals = snap
        prev_state, prev_session, prev_seq = self._state, self.session, self.last_seq
        if session != prev_session:
            self.status = self._control("status")
            self._forget()
        if prev_state in ("new", "waiting"):
            out.append(Connected(session, seq, self.status))
            keep = len(finals) if self._history is None else max(0, self._history)
            chosen, origin = finals[len(finals) - keep:], "history"
        elif session != prev_session:
            out.append(Restarted(prev_session, session, self.status))
            # the snapshot (served from the daemon's journal) also holds earlier sessions' finals:
            # those were delivered, or were history, before the restart
            chosen, origin = [f for f in finals if f[0].session == session], "recovered"
        else:
            chosen, origin = [f for f in finals if f[0].session == session and f[0].seq > prev_seq], "recovered"
        recovered = [item for f, raw in chosen if (item := self._deliverable(f, raw, origin))]
        if prev_state == "lost" and session == prev_session:
            out.append(Back(session))
        elif reason == "gap" and session == prev_session and self._live_since_sync:
            out.append(Resynced(expected, got, len(recovered)))
        out.extend(recovered)
        self._state, self.session, self.last_seq = "synced", session, seq
        self._heard, self._live_since_sync = time.monotonic(), 0
        return True

    def _forget(self) -> None:
        self._delivered.clear()
        self._delivered_order.clear()

    def _deliverable(self, event: Event, raw: bytes, origin: Origin) -> Received | None:
        """The item to deliver for ``event``, or None (filtered topic, or a final already delivered)."""
        if isinstance(event, Final):
            key = (event.session, event.stream, event.utt)
            if key in self._delivered:
                return None
            self._delivered.add(key)
            self._delivered_order.append(key)
            if len(self._delivered_order) > _MAX_REMEMBERED_UTTS:
                self._delivered.discard(self._delivered_order.popleft())
        if not any(event.TOPIC.startswith(t) for t in self._topics):
            return None
        return Received(event, raw, origin)

    def _handle(self, frames: list[bytes], out: list[Item]) -> None:
        """One message from the SUB socket: liveness, session and ``seq`` checks, delivery."""
        self._heard = now = time.monotonic()
        event: Event | None = None
        try:
            event = decode(frames)
        except UnknownEvent:
            pass  # a topic or type added after this client was written: skip it, keep its seq
        except ProtocolError as exc:
            topic = bytes(frames[0])[:80].decode("utf-8", "replace")
            if topic not in self._bad_topics:
                self._bad_topics.add(topic)
                log.warning("skipping malformed event (further ones on %s are skipped silently): %s", topic, exc)
        envelope = (event.session, event.seq) if event is not None else _envelope(frames)
        if envelope is None:
            return  # cannot place it; a seq gap on the next event triggers a resync if needed
        session, seq = envelope
        if self._state != "synced":
            if now < self._next_sync or not self._sync(out, "contact"):
                return
        elif session != self.session and not self._sync(out, "session"):
            out.append(Restarted(self.session, session))  # control is mute: follow the stream anyway
            self._forget()
            self.session, self.last_seq, self.status = session, seq - 1 if seq else 0, None
        if session != self.session:
            return  # a stale event from an earlier daemon still queued
        ahead = isinstance(event, Heartbeat) and event.last_seq > max(self.last_seq, seq)
        if (seq > self.last_seq + 1 or ahead) and now >= self._next_sync:
            expected = self.last_seq + 1
            if not self._sync(out, "gap", expected, max(seq, event.last_seq if ahead else 0)):
                log.warning("missed events %d..%d and the control socket does not answer", expected, seq - 1)
        if seq <= self.last_seq:
            return  # covered by the snapshot, or a duplicate
        self.last_seq = seq
        self._live_since_sync += 1
        if event is not None and (item := self._deliverable(event, bytes(frames[1]), "live")):
            out.append(item)


__all__ = [
    "DEFAULT_TIMEOUT", "DEFAULT_SILENCE_S", "DaemonUnavailable", "DaemonError", "request",
    "resolve_client_endpoints", "Origin", "Received", "Waiting", "Connected", "Restarted", "Resynced",
    "Silent", "Back", "Notice", "Item", "Subscriber",
]  # fmt: skip

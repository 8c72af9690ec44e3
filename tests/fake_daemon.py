"""A stand-in for the daemon without a model, for testing clients: the real publisher, test knobs.

:class:`FakeDaemon` runs the daemon's own :class:`~stenod.daemon.publish.Publisher` (stamping,
``seq``, heartbeats, the ``snapshot`` of recent finals, control answers) on private ``inproc``
sockets, and one relay thread between those and the test's real endpoints:

* events: an XSUB on the publisher, an XPUB on the test's endpoint (it sees subscriptions, so a
  test can wait for a subscriber); the relay can lose chosen events, drop heartbeats (a silent
  daemon), or send hand-made frames;
* control: a ROUTER on the test's endpoint that records each request's ``cmd`` and forwards it to
  the publisher's control socket (or, muted, leaves it unanswered).

The handler answers ``status`` (the publisher adds ``session`` and ``seq``), ``pause``, ``resume``
and ``shutdown``; other commands get the publisher's error reply. :meth:`FakeDaemon.restart` starts
a new publisher: a new session, ``seq`` from 0, the journal's finals only.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import zmq

from stenod.daemon.journal import Journal
from stenod.daemon.publish import ControlError, Outbox, Publisher
from stenod.protocol import AudioSpan, Event, Final, Heartbeat, Partial

NO_HEARTBEAT_S = 24 * 3600.0


def partial(utt: int, rev: int, text: str, stable_len: int = 0) -> Partial:
    return Partial(utt=utt, rev=rev, audio=AudioSpan(0, 1000), text=text, stable_len=stable_len)


def final(utt: int, text: str, model: str = "fake/tiny") -> Final:
    return Final(utt=utt, rev=9, audio=AudioSpan(0, 1000), text=text, stable_len=len(text), model=model,
                 timings={"inference_ms": 12.5})


def _unstamped(event: Event) -> Event:
    return dataclasses.replace(event, session="", seq=0, t_wall="", t_mono_ns=0)


class FakeDaemon:
    """Publishes on ``events`` and answers on ``control`` until :meth:`stop`. ``journal``: a
    directory whose journaled finals the snapshot serves (as the daemon's does across restarts)."""

    def __init__(self, events: str, control: str, *, heartbeat_s: float | None = 0.2, model: str = "fake/tiny",
                 journal: Path | None = None):
        self.events, self.control, self.model = events, control, model
        self.heartbeat_s = heartbeat_s or NO_HEARTBEAT_S
        self.journal_dir = journal
        self.state = "ready"
        self.requests: list[str] = []
        """The ``cmd`` of every control request received, in order."""
        self.heartbeats = True
        """False: the relay drops heartbeats, the publisher's and the test's (they still take their ``seq``); ``heartbeat_s=None``: the publisher sends none."""
        self.answer_control = True
        """False: control requests are received but never answered."""
        self.publisher: Publisher | None = None
        self._published: queue.Queue[Event] = queue.Queue()
        self._lose: set[int] = set()
        self._hold = False
        self._claimed: int | None = None  # the seq next_envelope claimed for the next raw frames
        self._calls: queue.Queue[tuple[Callable[[], Any], queue.Queue]] = queue.Queue()
        self._subscribed = threading.Event()
        self._running = threading.Event()
        self._ready = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="fake-daemon-relay", daemon=True)
        self._error: BaseException | None = None
        self._lock = threading.Lock()  # serializes publish/claim against restart

    # ------------------------------------------------------------------ lifecycle

    @property
    def session(self) -> str:
        return self.publisher.session

    @property
    def seq(self) -> int:
        return self.publisher.seq

    @property
    def finals(self) -> list[dict]:
        """The bodies the snapshot would serve now."""
        return list(self.publisher.finals)

    def start(self) -> FakeDaemon:
        self._running.set()
        self._thread.start()
        self._ready.wait(5)
        if self._error:
            raise self._error
        self._start_publisher()
        return self

    def stop(self) -> None:
        self._stop_publisher()
        self._running.clear()
        self._thread.join(5)

    def __enter__(self) -> FakeDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_subscribed(self, timeout: float = 5.0) -> None:
        """Block until some SUB socket has subscribed (so nothing published next is lost)."""
        if not self._subscribed.wait(timeout):
            raise TimeoutError("no subscriber connected to the fake daemon")

    def _start_publisher(self) -> None:
        name = uuid.uuid4().hex
        events, control = f"inproc://fake-events-{name}", f"inproc://fake-control-{name}"
        journal = Journal(self.journal_dir) if self.journal_dir is not None else None
        pub = Publisher(events, control, Outbox(), self._handle, str(uuid.uuid4()), self.heartbeat_s,
                        journal=journal)
        pub.on_publish(self._published.put)
        self.call(lambda: self._attach(events, control))  # inproc: connecting before the bind is fine
        pub.start()
        pub.ready.wait(5)
        if pub.error:
            raise RuntimeError(pub.error)
        self.publisher = pub

    def _stop_publisher(self) -> None:
        if self.publisher is not None:
            self.publisher.stop()
            self.publisher.join(5)
            self.publisher.outbox.close()

    def restart(self) -> str:
        """Behave like a new daemon run on the same sockets: a new session, seq from 0."""
        with self._lock:
            self._stop_publisher()
            self._start_publisher()
            return self.session

    # ------------------------------------------------------------------ test API (any thread)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the relay thread and return its result."""
        done: queue.Queue = queue.Queue()
        self._calls.put((fn, done))
        deadline = time.monotonic() + 5
        while True:
            try:
                ok, value = done.get(timeout=0.05)
                break
            except queue.Empty:
                if self._error is not None:
                    raise RuntimeError("the fake daemon's relay thread failed") from self._error
                if time.monotonic() > deadline:
                    raise TimeoutError("the fake daemon's relay thread did not answer within 5 s") from None
        if not ok:
            raise value
        return value

    def publish(self, event: Event, *, lose: bool = False) -> Event:
        """Publish ``event`` through the publisher (the next ``seq``); ``lose``: the relay drops it
        (its final stays in the snapshot), as if this subscriber had missed it."""
        with self._lock:
            self.call(lambda: setattr(self, "_hold", True))  # nothing passes until its seq is known
            try:
                stamped = self._send(event)
                if lose:
                    self.call(lambda: self._lose.add(stamped.seq))
            finally:
                self.call(lambda: setattr(self, "_hold", False))
            return stamped

    def publish_raw(self, frames: list[bytes]) -> None:
        """Send arbitrary frames on the events socket (they take no ``seq``); events held since
        :meth:`next_envelope` follow them."""
        def send() -> None:
            # Events the publisher stamped before the claimed seq (a heartbeat of its own) go out
            # first, in order; the claim itself is dropped (it is in `_lose`).
            claimed, self._claimed = self._claimed, None
            deadline = time.monotonic() + 5
            while claimed is not None and claimed in self._lose and time.monotonic() < deadline:
                if self._xsub.poll(100):
                    self._relay_event()
            self._xpub.send_multipart(frames)
            self._hold = False
        self.call(send)

    def next_envelope(self) -> dict[str, Any]:
        """Claim the next ``seq`` for a hand-made body: ``{"session": ..., "seq": ...}``. The relay
        holds later events back until that body goes out with :meth:`publish_raw`."""
        with self._lock:
            self.call(lambda: setattr(self, "_hold", True))
            claimed = self._send(Heartbeat(last_seq=0))  # unlike the publisher's own (last_seq >= 1)
            def claim() -> None:
                self._lose.add(claimed.seq)
                self._claimed = claimed.seq
            self.call(claim)
            return {"session": claimed.session, "seq": claimed.seq}

    def _send(self, event: Event) -> Event:
        self.publisher.outbox.put(event)
        want = _unstamped(event)
        deadline = time.monotonic() + 5
        while True:
            stamped = self._published.get(timeout=max(0.01, deadline - time.monotonic()))
            if _unstamped(stamped) == want:
                return stamped

    # ------------------------------------------------------------------ publisher thread

    def _handle(self, request: dict) -> dict:
        cmd = request["cmd"]
        if cmd == "status":
            n = sum(1 for f in self.publisher.finals if f["session"] == self.publisher.session)
            return {"state": self.state, "model": self.model, "device": "cpu", "source": "fake",
                    "uptime_s": time.monotonic() - self._started,
                    "counters": {"utterances": n, "finals": n, "partials": 3, "overruns": 0, "dropped_samples": 0,
                                 "guard_drops": 1},
                    "latency_ms": {"final": {"p50": 180.4, "p95": 320.0, "max": 333.3},
                                   "first_partial": {"p50": None, "p95": None, "max": None}},
                    "decoding": {"mode": "plain"}}
        if cmd in ("pause", "resume", "shutdown"):
            self.state = {"pause": "paused", "resume": "ready", "shutdown": "stopping"}[cmd]
            return {"state": self.state}
        raise ControlError(f"unknown command {cmd!r}")

    # ------------------------------------------------------------------ relay thread

    def _attach(self, events: str, control: str) -> None:
        for sock in (self._xsub, self._dealer):
            if sock is not None:
                sock.close(0)
        ctx = zmq.Context.instance()
        self._xsub, self._dealer = ctx.socket(zmq.XSUB), ctx.socket(zmq.DEALER)
        self._xsub.connect(events)
        self._xsub.send(b"\x01")  # everything: the XPUB filters for its subscribers
        self._dealer.connect(control)
        self._pending.clear()

    def _relay_event(self) -> None:
        frames = self._xsub.recv_multipart()
        body = json.loads(frames[-1])
        if body["seq"] in self._lose:
            self._lose.discard(body["seq"])
            return
        if body["type"] == "heartbeat" and not self.heartbeats:
            return
        self._xpub.send_multipart(frames)

    def _relay_request(self) -> None:
        frames = self._router.recv_multipart()
        envelope, body = frames[:-1], frames[-1]  # [identity, b""] from REQ peers
        try:
            self.requests.append(json.loads(body)["cmd"])
        except (ValueError, KeyError, TypeError):
            self.requests.append("")
        if self.answer_control:
            self._pending.append(envelope)
            self._dealer.send_multipart([b"", body])

    def _loop(self) -> None:
        ctx = zmq.Context.instance()
        self._xsub = self._dealer = None
        self._pending: collections.deque[list[bytes]] = collections.deque()
        try:
            self._xpub = ctx.socket(zmq.XPUB)
            self._xpub.setsockopt(zmq.XPUB_VERBOSE, 1)
            self._router = ctx.socket(zmq.ROUTER)
            for sock in (self._xpub, self._router):
                sock.setsockopt(zmq.LINGER, 0)
            self._xpub.bind(self.events)
            self._router.bind(self.control)
        except zmq.ZMQError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while self._running.is_set():
                poller = zmq.Poller()
                poller.register(self._xpub, zmq.POLLIN)
                if self._xsub is not None:  # requests wait in the ROUTER until a publisher is attached
                    poller.register(self._router, zmq.POLLIN)
                    poller.register(self._dealer, zmq.POLLIN)
                    if not self._hold:
                        poller.register(self._xsub, zmq.POLLIN)
                ready = dict(poller.poll(10))
                if self._xpub in ready and self._xpub.recv()[:1] == b"\x01":
                    self._subscribed.set()
                if self._router in ready:
                    self._relay_request()
                if self._dealer in ready:
                    reply = self._dealer.recv_multipart()[-1]
                    if self._pending:
                        self._router.send_multipart([*self._pending.popleft(), reply])
                if self._xsub in ready:
                    self._relay_event()
                while True:
                    try:
                        fn, done = self._calls.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        done.put((True, fn()))
                    except BaseException as exc:  # handed back to the calling test
                        done.put((False, exc))
        except BaseException as exc:  # the test's next call() raises it instead of timing out
            self._error = exc
            raise
        finally:
            for sock in (self._xpub, self._router, self._xsub, self._dealer):
                if sock is not None:
                    sock.close(0)

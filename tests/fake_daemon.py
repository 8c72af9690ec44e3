"""A stand-in for the daemon's sockets, for testing clients without a model.

:class:`FakeDaemon` binds an XPUB events socket and a ROUTER control socket on real ZeroMQ
endpoints and owns them from one thread (ZeroMQ sockets are not thread-safe): the test's calls are
queued and run there. It stamps and publishes real protocol events, keeps finals for ``snapshot``,
sends heartbeats, and answers ``status``, ``snapshot``, ``pause``, ``resume`` and ``shutdown``.
Knobs let a test lose events on purpose, go silent, or restart with a new session.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from typing import Any, Callable

import zmq

from stenod.protocol import (
    AudioSpan, Event, Final, Heartbeat, Partial, ProtocolError, encode, error_reply, ok_reply, parse_request, stamp,
)  # fmt: skip


def partial(utt: int, rev: int, text: str, stable_len: int = 0) -> Partial:
    return Partial(utt=utt, rev=rev, audio=AudioSpan(0, 1000), text=text, stable_len=stable_len)


def final(utt: int, text: str, model: str = "fake/tiny") -> Final:
    return Final(utt=utt, rev=9, audio=AudioSpan(0, 1000), text=text, stable_len=len(text), model=model,
                 timings={"inference_ms": 12.5})


class FakeDaemon:
    """Publishes on ``events`` and answers on ``control`` until :meth:`stop`."""

    def __init__(self, events: str, control: str, *, heartbeat_s: float | None = 0.2, model: str = "fake/tiny"):
        self.events, self.control, self.heartbeat_s, self.model = events, control, heartbeat_s, model
        self.session = str(uuid.uuid4())
        self.seq = 0
        self.state = "ready"
        self.finals: list[Final] = []
        self.requests: list[str] = []
        self.heartbeats = heartbeat_s is not None
        self.answer_control = True
        self._calls: queue.Queue[tuple[Callable[[], Any], queue.Queue]] = queue.Queue()
        self._subscribed = threading.Event()
        self._running = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="fake-daemon", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeDaemon:
        self._running.set()
        self._thread.start()
        self._ready.wait(5)
        if self._error:
            raise self._error
        return self

    def stop(self) -> None:
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

    # ------------------------------------------------------------------ test API (any thread)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the daemon thread and return its result."""
        done: queue.Queue = queue.Queue()
        self._calls.put((fn, done))
        ok, value = done.get(timeout=5)
        if not ok:
            raise value
        return value

    def publish(self, event: Event, *, lose: bool = False) -> Event:
        """Stamp ``event`` with the next ``seq`` and send it (``lose``: count it, keep a final for the
        snapshot, but do not send it, as if this subscriber had missed it)."""
        return self.call(lambda: self._publish(event, lose=lose))

    def publish_raw(self, frames: list[bytes]) -> None:
        """Send arbitrary frames (they take no ``seq``)."""
        self.call(lambda: self._pub.send_multipart(frames))

    def next_envelope(self) -> dict[str, Any]:
        """Claim the next ``seq`` for a hand-made body: ``{"session": ..., "seq": ...}``."""
        def claim() -> dict[str, Any]:
            self.seq += 1
            return {"session": self.session, "seq": self.seq}
        return self.call(claim)

    def restart(self) -> str:
        """Behave like a new daemon run on the same sockets: a new session, seq from 0, no finals."""
        def do() -> str:
            self.session, self.seq, self.finals = str(uuid.uuid4()), 0, []
            return self.session
        return self.call(do)

    # ------------------------------------------------------------------ daemon thread

    def _publish(self, event: Event, *, lose: bool = False) -> Event:
        self.seq += 1
        stamped = stamp(event, self.session, self.seq)
        if isinstance(stamped, Final):
            self.finals.append(stamped)
        if not lose:
            self._pub.send_multipart(encode(stamped))
        return stamped

    def _reply(self, request: dict[str, Any]) -> bytes:
        cmd = request["cmd"]
        if cmd == "status":
            return ok_reply(state=self.state, session=self.session, model=self.model, device="cpu", source="fake",
                            uptime_s=time.monotonic() - self._started, seq=self.seq,
                            counters={"utterances": len(self.finals), "finals": len(self.finals), "partials": 3,
                                      "overruns": 0, "dropped_samples": 0, "guard_drops": 1},
                            latency_ms={"final": {"p50": 180.4, "p95": 320.0, "max": 333.3},
                                        "first_partial": {"p50": None, "p95": None, "max": None}},
                            decoding={"mode": "plain"})
        if cmd == "snapshot":
            finals = [json.loads(encode(f)[1]) for f in self.finals]
            return ok_reply(session=self.session, seq=self.seq, finals=finals)
        if cmd in ("pause", "resume", "shutdown"):
            self.state = {"pause": "paused", "resume": "ready", "shutdown": "stopping"}[cmd]
            return ok_reply(state=self.state)
        return error_reply(f"unknown command {cmd!r}")

    def _control_message(self) -> None:
        frames = self._router.recv_multipart()
        envelope, body = frames[:-1], frames[-1]
        if not self.answer_control:
            return
        try:
            request = parse_request(body)
        except ProtocolError as exc:
            self._router.send_multipart([*envelope, error_reply(str(exc))])
            return
        self.requests.append(request["cmd"])
        self._router.send_multipart([*envelope, self._reply(request)])

    def _loop(self) -> None:
        ctx = zmq.Context.instance()
        try:
            self._pub = ctx.socket(zmq.XPUB)
            self._pub.setsockopt(zmq.XPUB_VERBOSE, 1)
            self._router = ctx.socket(zmq.ROUTER)
            for sock in (self._pub, self._router):
                sock.setsockopt(zmq.LINGER, 0)
            self._pub.bind(self.events)
            self._router.bind(self.control)
        except zmq.ZMQError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        poller = zmq.Poller()
        poller.register(self._pub, zmq.POLLIN)
        poller.register(self._router, zmq.POLLIN)
        next_beat = time.monotonic()
        try:
            while self._running.is_set():
                ready = dict(poller.poll(10))
                if self._pub in ready:
                    if self._pub.recv()[:1] == b"\x01":
                        self._subscribed.set()
                if self._router in ready:
                    self._control_message()
                while True:
                    try:
                        fn, done = self._calls.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        done.put((True, fn()))
                    except BaseException as exc:  # handed back to the calling test
                        done.put((False, exc))
                if self.heartbeats and self.heartbeat_s and time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat_s
                    self._publish(Heartbeat(last_seq=self.seq + 1))
        finally:
            self._pub.close(0)
            self._router.close(0)


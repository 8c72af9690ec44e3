"""The publisher: the only thread that touches ZeroMQ sockets.

Other threads hand events over through an `Outbox` (a queue plus a wake-up pipe that the
publisher's poller watches, so an idle daemon wakes only for heartbeats). The publisher stamps
each event with the session and the next `seq`, sends it on the PUB socket, keeps recent finals
for catch-up snapshots, sends a heartbeat every second, and answers the ROUTER control socket.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from stenod import protocol
from stenod.daemon.journal import Journal
from stenod.daemon.supervise import fault_point
from stenod.keys import CurveKeyError, Keys, is_tcp
from stenod.protocol import Final, Heartbeat, ProtocolError

log = logging.getLogger("stenod.publish")

ControlHandler = Callable[[dict], dict]

SEND_HWM = 1000
"""Events the PUB socket queues per subscriber (ZeroMQ's SNDHWM) before it drops that subscriber's
next ones: minutes of a live stream, under a megabyte. A subscriber that stops reading never
blocks the daemon; when it reads again it sees a jump in ``seq`` and recovers finals by snapshot."""


class ControlError(Exception):
    """A control request that is understood but cannot be done; becomes {"ok": false}."""


class Outbox:
    """Thread-safe hand-over of events to the publisher, with a file descriptor to poll on."""

    def __init__(self) -> None:
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    @property
    def fd(self) -> int:
        return self._r

    def put(self, event) -> None:
        self._q.put(event)
        try:
            os.write(self._w, b"\0")
        except BlockingIOError:  # the pipe is full of wake-ups already: the publisher will drain
            pass

    def drain(self) -> list:
        try:
            while os.read(self._r, 4096):
                pass
        except BlockingIOError:
            pass
        items = []
        while True:
            try:
                items.append(self._q.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


class SocketDirError(Exception):
    """The directory of an ipc:// endpoint is open to other users and is not ours to fix."""


def prepare_ipc(endpoint: str, own_dir: Path | None = None) -> None:
    """Create the directory of an ipc:// endpoint with mode 0700: other users must not listen in.
    `own_dir` (the runtime directory) has its mode fixed when it is more open than that; any other
    directory open to group or others is refused."""
    if not endpoint.startswith("ipc://"):
        return
    d = Path(endpoint[6:]).parent
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = d.stat()
    if st.st_uid != os.getuid():
        raise SocketDirError(f"socket directory {d} belongs to another user (uid {st.st_uid})")
    if st.st_mode & 0o077:
        if own_dir is None or d.resolve() != own_dir.resolve():
            raise SocketDirError(f"socket directory {d} is open to other users (mode {st.st_mode & 0o777:o}); "
                                 "use a directory only you can open")
        log.warning("socket directory %s had mode %o; set to 700", d, st.st_mode & 0o777)
        d.chmod(0o700)


def endpoint_in_use(endpoint: str, timeout_ms: int = 300) -> bool:
    """True when a daemon already answers on this control endpoint."""
    import zmq

    if endpoint.startswith("ipc://") and not Path(endpoint[6:]).exists():
        return False
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send(json.dumps({"cmd": "status"}).encode())
        return bool(sock.poll(timeout_ms))
    finally:
        sock.close()


class Publisher(threading.Thread):
    """Owns the events (PUB) and control (ROUTER) sockets. Runs until `stop()` and the outbox is empty."""

    def __init__(self, events: str, control: str, outbox: Outbox, handler: ControlHandler, session: str,
                 heartbeat_s: float = 1.0, snapshot_finals: int = 200, own_dir: Path | None = None,
                 journal: Journal | None = None, keys: Keys | None = None):
        super().__init__(name="publisher", daemon=True)
        self.events_ep, self.control_ep = events, control
        self.outbox, self.handler, self.session = outbox, handler, session
        self.heartbeat_s = heartbeat_s
        self.finals: collections.deque[dict] = collections.deque(maxlen=max(1, snapshot_finals))
        self.journal = journal
        self.keys = keys  # CURVE keys for tcp:// endpoints (validated by the service)
        self.journal_errors = 0
        if journal is not None:  # the snapshot serves finals of earlier sessions too
            self.finals.extend(journal.recent(snapshot_finals))
        self.seq = 0
        self.sent = 0
        self.bad_requests = 0
        self.ready = threading.Event()
        self.error: str | None = None
        self._halt = threading.Event()
        self._listeners: list[Callable[[object], None]] = []
        self._own_dir = own_dir

    def on_publish(self, fn: Callable[[object], None]) -> None:
        """Call `fn(stamped_event)` after each send (from the publisher thread; keep it cheap)."""
        self._listeners.append(fn)

    def stop(self) -> None:
        self._halt.set()
        self.outbox.put(None)  # wake the poller

    def run(self) -> None:
        import zmq

        ctx = zmq.Context.instance()
        pub, router = ctx.socket(zmq.PUB), ctx.socket(zmq.ROUTER)
        auth = self._authenticator(ctx)
        try:
            for sock, ep in ((pub, self.events_ep), (router, self.control_ep)):
                prepare_ipc(ep, self._own_dir)
                if is_tcp(ep):
                    self.keys.apply_server(sock)
                sock.setsockopt(zmq.LINGER, 2000)
                # No MAXMSGSIZE on the control socket: ZeroMQ would drop the peer of a larger
                # request without a reply; requests over the protocol's limit get an error reply
                # instead (every peer that can reach the socket is the user or a CURVE client).
                if sock is pub:
                    sock.setsockopt(zmq.SNDHWM, SEND_HWM)
                sock.bind(ep)
        except (SocketDirError, CurveKeyError, zmq.ZMQError) as exc:
            self.error = f"cannot bind {ep}: {exc}" if isinstance(exc, zmq.ZMQError) else str(exc)
            pub.close(0)
            router.close(0)
            if auth is not None:
                auth.stop()
            self.ready.set()
            return
        self.ready.set()
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(self.outbox.fd, zmq.POLLIN)
        next_beat = time.monotonic() + self.heartbeat_s
        try:
            while True:
                timeout = max(0.0, next_beat - time.monotonic())
                ready = dict(poller.poll(timeout * 1000))
                if router in ready:
                    self._serve(router)
                for event in self.outbox.drain():
                    if event is not None:
                        self._send(pub, event)
                if time.monotonic() >= next_beat:
                    self._send(pub, Heartbeat(last_seq=self.seq + 1))
                    next_beat = time.monotonic() + self.heartbeat_s
                if self._halt.is_set():
                    for event in self.outbox.drain():  # nothing handed over is lost
                        if event is not None:
                            self._send(pub, event)
                    break
        finally:
            pub.close()
            router.close()
            if auth is not None:
                auth.stop()
            if self.journal is not None:
                self.journal.close()
            for ep in (self.events_ep, self.control_ep):
                if ep.startswith("ipc://"):
                    Path(ep[6:]).unlink(missing_ok=True)

    def _send(self, pub, event) -> None:
        fault_point("publish")
        self.seq += 1
        stamped = protocol.stamp(event, self.session, self.seq)
        frames = protocol.encode(stamped)
        if isinstance(stamped, Final):
            self._journal(frames[1])
        pub.send_multipart(frames)
        self.sent += 1
        if isinstance(stamped, Final):
            self.finals.append(json.loads(frames[1]))
        for fn in self._listeners:
            fn(stamped)

    def _authenticator(self, ctx):
        """pyzmq's ZAP authenticator letting in only the authorized client keys, when a tcp://
        endpoint is used (its own thread and inproc socket, as ZeroMQ's ZAP protocol wants)."""
        if not (is_tcp(self.events_ep) or is_tcp(self.control_ep)):
            return None
        from zmq.auth.thread import ThreadAuthenticator

        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_curve(domain="*", location=str(self.keys.authorized))
        return auth

    def _journal(self, body: bytes) -> None:
        """Journal a final before it is sent. A failing disk is reported, and the final still
        published: holding it back would lose it for sure."""
        if self.journal is None:
            return
        try:
            self.journal.append(body)
        except OSError as exc:
            self.journal_errors += 1
            log.error("cannot write the journal %s: %s", self.journal.path, exc)

    def _serve(self, router) -> None:
        import zmq

        while True:
            try:
                frames = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) < 2:
                continue
            # REQ peers send [identity, b"", body]; DEALER peers may omit the delimiter.
            ident, rest = frames[0], frames[1:]
            envelope = [ident, b""] if rest[0] == b"" else [ident]
            body = rest[1] if rest[0] == b"" and len(rest) > 1 else rest[-1]
            reply = self._answer(body if len(rest) <= 2 else b"")
            router.send_multipart(envelope + [reply])

    def _answer(self, raw: bytes) -> bytes:
        try:
            req = protocol.parse_request(raw)
        except ProtocolError as exc:
            self.bad_requests += 1
            return protocol.error_reply(str(exc))
        cmd = req["cmd"]
        if cmd == "snapshot":
            try:
                protocol.check_fields(req)
            except ProtocolError as exc:
                self.bad_requests += 1
                return protocol.error_reply(str(exc))
            return protocol.ok_reply(session=self.session, seq=self.seq, finals=list(self.finals))
        try:
            result = self.handler(req)
        except ControlError as exc:
            self.bad_requests += 1
            return protocol.error_reply(str(exc))
        if cmd == "status":
            result = {**result, "session": self.session, "seq": self.seq}
        return protocol.ok_reply(**result)

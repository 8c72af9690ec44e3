"""The bridge from the ZeroMQ bus to browsers: one subscriber thread, one asyncio loop.

ZeroMQ sockets are not thread-safe and the web server's event loop must never block, so a thread
of its own owns the :class:`~stenod.clients.subscriber.Subscriber` and hands each batch of items
to the loop with ``call_soon_threadsafe``. There, and only there, :class:`SessionState` is updated
and the resulting messages are queued for every connected browser. A browser that connects gets
the state as a snapshot first and then every later message, in order: both happen in the loop's
thread, so nothing falls between them.

A browser that cannot keep up (its queue fills) loses its backlog and gets a fresh snapshot
instead, which holds everything it needs; the others are not held back.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from stenod.clients.subscriber import Item, Subscriber
from stenod.web.state import SessionState

log = logging.getLogger(__name__)

POLL_S = 0.2
QUEUE_SIZE = 1000


class Listener:
    """One browser's queue of outgoing messages (JSON text)."""

    def __init__(self, state: SessionState) -> None:
        self._state = state
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.queue.put_nowait(state.snapshot_message())

    def put(self, message: str) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.resync()

    def resync(self) -> None:
        """Drop the backlog and queue a snapshot of the current state."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(self._state.snapshot_message())


class Bridge:
    """Runs ``subscriber`` in a thread from :meth:`start` to :meth:`stop`; the rest of its methods
    belong to the event loop's thread."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self.state = SessionState()
        self._listeners: set[Listener] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stenod-web-bus", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failed = asyncio.Event()
        """Set (in the loop) when the subscriber thread died."""

    @property
    def control_endpoint(self) -> str:
        return self.subscriber.control_endpoint

    @property
    def listeners(self) -> int:
        """How many browsers are connected."""
        return len(self._listeners)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 5)

    def listen(self) -> Listener:
        """A new browser: its queue starts with a snapshot of the current state."""
        listener = Listener(self.state)
        self._listeners.add(listener)
        return listener

    def forget(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    # ---------------------------------------------------------------------------- threads

    def _run(self) -> None:
        """The subscriber thread: poll, hand batches to the loop. If it fails, :attr:`failed` is
        set in the loop, so the server stops instead of serving a transcript that no longer moves."""
        loop = self._loop
        assert loop is not None
        try:
            while not self._stop.is_set():
                items = self.subscriber.poll(POLL_S)
                if items:
                    loop.call_soon_threadsafe(self._apply, items, self.subscriber.last_seq)
        except Exception as exc:
            log.error("following the daemon failed: %s: %s", type(exc).__name__, exc, exc_info=True)
            if not loop.is_closed():
                loop.call_soon_threadsafe(self.failed.set)
        finally:
            self.subscriber.close()

    def _apply(self, items: list[Item], last_seq: int) -> None:
        for message in self.state.apply(items, last_seq):
            for listener in self._listeners:
                listener.put(message)


__all__ = ["Bridge", "Listener", "POLL_S", "QUEUE_SIZE"]

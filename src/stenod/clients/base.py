"""The base of every stenod client: a client is only what it does with partials and finals.

:class:`Client` owns the :class:`~stenod.clients.subscriber.Subscriber` (connection, heartbeats,
``seq`` gaps, snapshot resync, daemon restarts), the signals (Ctrl-C and SIGTERM end :meth:`run`
cleanly) and the dictation gate: a client with ``gated = True`` (typing, clipboard) only sees
utterances spoken while dictation was on, unless it was started with ``always=True``. Notices
(waiting for the daemon, restarted, silent) are reported once each on stderr by default.

A minimal client::

    class Shout(Client):
        name = "shout"

        def on_final(self, event: Final) -> None:
            print(event.text.upper())

Third-party clients register the class under the ``stenod.clients`` entry-point group and run as
``stenod client NAME``; :meth:`Client.add_arguments` adds their own options.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import ClassVar

from stenod.clients.subscriber import (
    Back, Connected, Item, Notice, Received, Restarted, Resynced, Silent, Subscriber, Waiting,
)  # fmt: skip
from stenod.protocol import Event, Final, Partial, StatusEvent


class Client:
    """Subclass and override :meth:`on_partial` / :meth:`on_final` (and, if needed,
    :meth:`on_status`, :meth:`on_event`, :meth:`on_notice`, :meth:`on_idle`).

    ``history``: snapshot finals delivered to :meth:`on_final` on first contact (``origin`` of the
    :class:`Received` is ``history``); finals recovered after a gap or restart are always delivered.
    """

    name: ClassVar[str] = "client"
    gated: ClassVar[bool] = False
    """True for clients that must act only on utterances spoken while dictation was on."""
    idle_s: ClassVar[float] = 0.5
    """How often :meth:`on_idle` runs when nothing arrives."""

    def __init__(self, events: str, control: str, *, always: bool = False, history: int = 0) -> None:
        self.always = always
        self.subscriber = Subscriber(events, control, history=history)
        self._running = False

    # ------------------------------------------------------------------ for subclasses

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add this client's own options to ``stenod client NAME``'s parser."""

    @classmethod
    def from_args(cls, args: argparse.Namespace, events: str, control: str) -> Client:
        """Build the client from parsed arguments (those of :meth:`add_arguments` included, and
        ``--always``, which every runner of clients adds)."""
        return cls(events, control, always=args.always)

    def on_partial(self, event: Partial) -> None:
        """A new revision of an utterance in progress."""

    def on_final(self, event: Final, origin: str = "live") -> None:
        """An utterance's closing text (``origin``: ``live``, ``history`` or ``recovered``)."""

    def on_status(self, event: StatusEvent) -> None:
        """A daemon state change."""

    def on_event(self, received: Received) -> None:
        """Every event (after the gate); dispatches to the ``on_*`` methods above."""
        event = received.event
        if isinstance(event, Final):
            self.on_final(event, received.origin)
        elif isinstance(event, Partial):
            self.on_partial(event)
        elif isinstance(event, StatusEvent):
            self.on_status(event)

    def on_notice(self, notice: Notice) -> None:
        """Connection news; the default says it on stderr."""
        message = describe_notice(notice)
        if message:
            print(f"stenod {self.name}: {message}", file=sys.stderr, flush=True)

    def on_idle(self) -> None:
        """Called about every :attr:`idle_s` seconds whatever arrives (timers, flushing)."""

    def close(self) -> None:
        """Release what the client holds; called once when :meth:`run` ends."""

    # ------------------------------------------------------------------ machinery

    def admits(self, event: Event) -> bool:
        """The dictation gate: False for transcripts spoken while dictation was off (gated clients)."""
        if not self.gated or self.always or not isinstance(event, (Partial, Final)):
            return True
        return event.dictation

    def handle(self, item: Item) -> None:
        """One item from the subscriber: a gated event or a notice."""
        if isinstance(item, Received):
            if self.admits(item.event):
                self.on_event(item)
        else:
            self.on_notice(item)

    def stop(self) -> None:
        """Make :meth:`run` return after the current item (safe from a signal handler)."""
        self._running = False

    def run(self) -> int:
        """Follow the daemon until Ctrl-C, SIGTERM or :meth:`stop`; returns the exit code."""
        self._running = True
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, lambda *_: self.stop()) if in_main else None
        try:
            while self._running:
                for item in self.subscriber.poll(self.idle_s):
                    self.handle(item)
                    if not self._running:
                        break
                self.on_idle()
        except KeyboardInterrupt:
            pass
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)
            try:
                self.close()
            finally:
                self.subscriber.close()
        return 0


def describe_notice(notice: Notice) -> str | None:
    """One line for a person about a connection notice (None for ones not worth saying)."""
    if isinstance(notice, Waiting):
        return f"waiting for the daemon at {notice.endpoint} (start it with `stenod run`)"
    if isinstance(notice, Connected):
        return None
    if isinstance(notice, Restarted):
        return "the daemon restarted; following the new session"
    if isinstance(notice, Silent):
        return f"nothing heard from the daemon for {notice.silent_s:.0f} s; still listening"
    if isinstance(notice, Back):
        return "the daemon is back"
    if isinstance(notice, Resynced):
        return f"missed events {notice.expected}..{notice.got - 1}; {notice.recovered} finals recovered"
    return None


__all__ = ["Client", "describe_notice"]

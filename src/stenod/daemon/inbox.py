"""The worker's inputs: one inbox per stream (segmenter events in, endpointing verdicts back) and
the stream's timeline; all inboxes ring one bell, which the worker waits on."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stenod import SAMPLE_RATE
from stenod.asr.api import BackendLoader
from stenod.daemon.endpoint import SentenceEnd
from stenod.daemon.segment import UttAudio, UttEnd, UttResumed, UttTentativeEnd


class EndOfStream:
    """Queued after the last segmenter event of a finite source."""


@dataclass(frozen=True)
class ReloadModel:
    """Queued by a configuration reload: the worker loads a new model with `load` and switches to
    it; audio keeps being queued meanwhile and is decoded by the new model (none is dropped)."""

    load: BackendLoader


class Inbox:
    """The queue from the VAD thread to the worker, with flags an in-flight decode polls: a
    partial decode is abandoned when an end of speech is queued (the final matters more), an
    early final decode when speech resumed (its audio is no longer the whole utterance). Back the
    other way it carries the worker's :class:`SentenceEnd` verdicts to the VAD thread."""

    def __init__(self, bell: threading.Event | None = None, maxsize: int = 100_000):
        self.bell = bell or threading.Event()
        """Rung at every put: the worker waits on the one bell all streams' inboxes share."""
        self._q: queue.Queue = queue.Queue(maxsize=maxsize)
        self.ending = threading.Event()
        self.end_sample: int | None = None  # where the queued (tentative) end says speech ended
        self.resumed: set[int] = set()  # utterances whose speech resumed after a tentative end
        self._backlog = 0  # samples of audio queued and not yet taken by the worker
        self._backlog_lock = threading.Lock()
        self._verdicts: queue.SimpleQueue[SentenceEnd] = queue.SimpleQueue()

    @property
    def backlog_s(self) -> float:
        """Seconds of audio queued that the worker has not handled yet: how far it lags behind
        (reported in status)."""
        return self._backlog / SAMPLE_RATE

    def _count(self, ev, sign: int) -> None:
        if isinstance(ev, UttAudio):
            with self._backlog_lock:
                self._backlog += sign * len(ev.samples)

    def handled(self, ev) -> None:
        """The worker is done with `ev` (taken by :meth:`take_pending`)."""
        self._count(ev, -1)

    def put(self, ev) -> None:
        if isinstance(ev, (UttTentativeEnd, UttEnd)):
            self.end_sample = ev.end
        if isinstance(ev, (UttTentativeEnd, UttEnd, EndOfStream)):
            self.ending.set()
        elif isinstance(ev, UttResumed):
            self.resumed.add(ev.utt)
        self._count(ev, +1)
        self._q.put(ev)
        self.bell.set()

    def ending_before(self, end: int) -> bool:
        """True when a queued end of speech makes a partial decode up to `end` useless (a
        partial whose audio ends exactly where speech ended is the final's decode: keep it)."""
        return self.ending.is_set() and self.end_sample != end

    def post_verdict(self, verdict: SentenceEnd) -> None:
        """Worker side: an early decode closes a sentence."""
        self._verdicts.put(verdict)

    def take_verdicts(self) -> list[SentenceEnd]:
        """VAD thread side: the verdicts posted since the last call, oldest first."""
        out: list[SentenceEnd] = []
        while True:
            try:
                out.append(self._verdicts.get_nowait())
            except queue.Empty:
                return out

    def take_pending(self) -> list:
        """Everything queued, oldest first, without waiting (the worker waits on :attr:`bell`)."""
        items = []
        self.ending.clear()
        self.resumed.clear()
        while True:
            try:
                items.append(self._q.get_nowait())
            except queue.Empty:
                return items


@dataclass
class Timeline:
    """Maps stream sample positions to monotonic time (None when the stream is not paced)."""

    origin_ns: Callable[[], int]
    speed: float = 1.0

    def mono_ns(self, sample: int) -> int | None:
        if not np.isfinite(self.speed):
            return None
        return self.origin_ns() + int(sample / SAMPLE_RATE / self.speed * 1e9)


@dataclass(frozen=True)
class StreamInput:
    """What the worker reads of one stream: its label, its inbox and its timeline."""

    label: str
    inbox: Inbox
    timeline: Timeline

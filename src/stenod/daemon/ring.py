"""A fixed-size ring buffer of mono int16 samples between the audio callback and one reader.

The capture callback runs on the audio driver's thread and must never stall: :meth:`Ring.write`
only copies into a preallocated array (no allocation beyond slicing views, no logging) and holds
the lock just for that copy. If the reader falls more than ``capacity`` samples behind, the oldest
unread audio is overwritten; the loss is counted (``overruns``, ``dropped_samples``) and shows up
to the reader as a jump in the absolute stream index returned by :meth:`Ring.read`.

Positions are absolute sample indices since the stream started (``written`` is the index one past
the newest sample), so downstream stages can place audio on the stream timeline even across drops.
"""

from __future__ import annotations

import threading

import numpy as np


class Ring:
    """Single-writer, single-reader ring of int16 samples with absolute stream positions."""

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self._buf = np.zeros(capacity, dtype=np.int16)
        self._capacity = capacity
        self._cond = threading.Condition(threading.Lock())
        self._written = 0  # absolute index one past the newest sample
        self._read = 0  # absolute index of the oldest unread sample
        self._overruns = 0
        self._dropped = 0
        self._closed = False

    # ------------------------------------------------------------------------------- writer side

    def write(self, samples: np.ndarray) -> None:
        """Append ``samples`` (int16, any shape holding mono audio, e.g. ``(n,)`` or ``(n, 1)``).

        Safe to call from the audio callback: copies only. If this leaves the reader more than
        ``capacity`` behind, the oldest unread samples are dropped and counted as one overrun.
        Writes after :meth:`close` are ignored, so a callback racing shutdown cannot fail.
        """
        if samples.dtype != np.int16:
            raise ValueError(f"ring holds int16 samples, got {samples.dtype}")
        flat = samples.reshape(-1)
        n = flat.shape[0]
        if n == 0:
            return
        cap = self._capacity
        with self._cond:
            if self._closed:
                return
            end = self._written + n
            # Only the newest `capacity` samples of an oversized block can survive.
            src = flat[-cap:] if n > cap else flat
            pos = (end - src.shape[0]) % cap
            first = min(src.shape[0], cap - pos)
            self._buf[pos : pos + first] = src[:first]
            if first < src.shape[0]:
                self._buf[: src.shape[0] - first] = src[first:]
            self._written = end
            behind = end - self._read
            if behind > cap:
                self._overruns += 1
                self._dropped += behind - cap
                self._read = end - cap
            self._cond.notify_all()

    def close(self) -> None:
        """Mark the stream finished and wake any waiting reader; unread samples stay readable."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ------------------------------------------------------------------------------- reader side

    def read(self, max_samples: int | None = None) -> tuple[int, np.ndarray]:
        """Take up to ``max_samples`` unread samples (all if None) without blocking.

        Returns ``(start, samples)``: the absolute stream index of the first returned sample and a
        fresh copy of the samples (possibly empty, then ``start`` is the next index to come). A
        ``start`` beyond the end of the previous read means samples were dropped in between.
        """
        if max_samples is not None and max_samples < 0:
            raise ValueError(f"max_samples must be >= 0, got {max_samples}")
        cap = self._capacity
        with self._cond:
            start = self._read
            n = self._written - start
            if max_samples is not None:
                n = min(n, max_samples)
            out = np.empty(n, dtype=np.int16)
            pos = start % cap
            first = min(n, cap - pos)
            out[:first] = self._buf[pos : pos + first]
            out[first:] = self._buf[: n - first]
            self._read = start + n
        return start, out

    def wait(self, timeout: float | None = None) -> bool:
        """Block until unread data exists, the ring is closed, or ``timeout`` seconds pass.

        Returns True if unread data is available (a closed ring may still hold some).
        """
        with self._cond:
            self._cond.wait_for(lambda: self._written > self._read or self._closed, timeout)
            return self._written > self._read

    # ------------------------------------------------------------------------------ counters

    @property
    def capacity(self) -> int:
        """Number of samples the ring holds."""
        return self._capacity

    @property
    def written(self) -> int:
        """Total samples ever written: the absolute index one past the newest sample."""
        with self._cond:
            return self._written

    @property
    def available(self) -> int:
        """Unread samples currently held."""
        with self._cond:
            return self._written - self._read

    @property
    def overruns(self) -> int:
        """Number of writes that had to drop unread samples."""
        with self._cond:
            return self._overruns

    @property
    def dropped_samples(self) -> int:
        """Total unread samples lost to overruns."""
        with self._cond:
            return self._dropped

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        with self._cond:
            return self._closed

"""Counters and latency statistics shared by the pipeline threads, read by `status`."""

from __future__ import annotations

import collections
import threading

import numpy as np

from stenod.protocol import Final, Partial, SpeechStart
from stenod.types import Transcript

WINDOW = 1000  # latency samples kept


def _summary(values) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    a = np.asarray(values, dtype=float)
    return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "max": round(float(a.max()), 1), "n": len(a)}


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: collections.Counter[str] = collections.Counter()
        self.final_ms: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self.first_partial_ms: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self.inference_ms: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self.accepted = self.proposed = 0
        self._speech_start_ns: dict[tuple[str, int], int | None] = {}  # (stream, utt) -> speech start

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def record_decode(self, t: Transcript) -> None:
        with self._lock:
            self.counters["decodes"] += 1
            self.inference_ms.append(t.total_ms)
            self.accepted += t.stats.assistant_accepted
            self.proposed += t.stats.assistant_proposed or 0

    def published(self, event, speech_mono_ns=None) -> None:  # speech_mono_ns: of the event's stream
        """Called by the publisher after each send (latencies use the stream timeline)."""
        with self._lock:
            if isinstance(event, Final):
                self.counters["finals"] += 1
                end_ns = event.timings.get("speech_end_mono_ns")
                if end_ns:
                    self.final_ms.append((event.t_mono_ns - end_ns) / 1e6)
                self._speech_start_ns.pop((event.stream, event.utt), None)
            elif isinstance(event, Partial):
                self.counters["partials"] += 1
                start_ns = self._speech_start_ns.pop((event.stream, event.utt), None)
                if start_ns:
                    self.first_partial_ms.append((event.t_mono_ns - start_ns) / 1e6)
            elif isinstance(event, SpeechStart) and speech_mono_ns is not None:
                self._speech_start_ns[(event.stream, event.utt)] = speech_mono_ns(event.audio_ms * 16)
                while len(self._speech_start_ns) > 100:
                    self._speech_start_ns.pop(next(iter(self._speech_start_ns)))

    def snapshot(self) -> dict:
        with self._lock:
            out = {
                "counters": dict(self.counters),
                "latency_ms": {"final": _summary(self.final_ms), "first_partial": _summary(self.first_partial_ms),
                               "inference": _summary(self.inference_ms)},
            }
            if self.proposed:
                out["assistant_acceptance_rate"] = round(self.accepted / self.proposed, 4)
            return out

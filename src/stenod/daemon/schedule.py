"""Which pending decodes the one inference worker runs next, across all streams.

Pure: the worker lists one :class:`Job` per stream that has something to decode (the newest state
of its utterance, so partials that fell behind are already coalesced), and :class:`Scheduler`
picks the next batch:

- finals (and final decodes started at a tentative end) before any partial; among them the oldest
  first; a batch never mixes finals with partials, so a final never waits for a partial's decode;
- partials only while no final waits, the stream served longest ago first (then the oldest), so
  under overload every stream's partials slow down alike and none is starved;
- as many jobs of that class as ``max_batch`` (``[stream] max_batch``) allows when the backend batches, else one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

class Kind(IntEnum):
    FINAL = 0  # an utterance ended and no decode ahead covers it
    EARLY = 1  # the final's decode, started at a tentative end (while the hangover runs)
    PARTIAL = 2


@dataclass(frozen=True)
class Job:
    stream: str
    utt: int
    kind: Kind
    since_ns: int  # since when it waits (monotonic)


class Scheduler:
    def __init__(self, max_batch: int = 8):
        """`max_batch`: ``[stream] max_batch``; `stenod models batchbench` measures what a batch saves."""
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.max_batch = max_batch
        self._served: dict[str, int] = {}  # stream -> the turn its partial was last decoded
        self._turn = 0

    def next_batch(self, jobs: Sequence[Job], batching: bool) -> list[Job]:
        """The jobs to decode now, as one batch (empty when there are none)."""
        if not jobs:
            return []
        if len({j.stream for j in jobs}) != len(jobs):
            raise ValueError("one job per stream: a stream's newest state replaces its older ones")
        urgent = [j for j in jobs if j.kind != Kind.PARTIAL]
        if urgent:
            pool = sorted(urgent, key=lambda j: (j.kind, j.since_ns))
        else:
            pool = sorted(jobs, key=lambda j: (self._served.get(j.stream, -1), j.since_ns))
        chosen = pool[: self.max_batch if batching else 1]
        if not urgent:
            self._turn += 1
            for j in chosen:
                self._served[j.stream] = self._turn
        return chosen

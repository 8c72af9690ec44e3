"""The worker's state of one stream: the utterance being decoded, the one whose end waits for its
final decode, and the stream's prompt context. Only the inference worker touches it."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from stenod.daemon.context import PromptContext
from stenod.daemon.inbox import StreamInput
from stenod.daemon.segment import UttAudio, UttEnd
from stenod.daemon.stabilize import Stabilizer
from stenod.types import Transcript


@dataclass(frozen=True)
class Decoded:
    """One decode of an utterance's audio up to sample ``end``, started at ``started_ns``
    (monotonic): when the final's decode started is part of its latency budget."""

    end: int
    t: Transcript
    started_ns: int


@dataclass
class Utterance:
    utt: int
    start: int
    chunks: list[np.ndarray] = field(default_factory=list)
    length: int = 0
    rev: int = 0
    decoded_to: int = 0
    shown: bool = False  # a non-empty partial was published
    dictation: bool = False  # spoken while dictation was on (see daemon.gate)
    tentative_end: int | None = None
    early: Decoded | None = None  # the decode started at the tentative end
    last: Decoded | None = None  # the latest decode
    tokens: list[int] = field(default_factory=list)  # latest decoded tokens: the next decode's draft
    prompt: list[int] = field(default_factory=list)  # vocabulary and previous text, for every decode
    stabilizer: Stabilizer = field(default_factory=Stabilizer)
    due_ns: int = field(default_factory=time.monotonic_ns)  # since when its next decode waits (fairness)

    def add(self, ev: UttAudio) -> None:
        offset = ev.start - self.start
        if offset < self.length:  # re-sent audio after a max-length split: keep the newest copy
            self.audio_until(offset)
        elif offset > self.length:  # never expected from the segmenter; keep the timeline exact
            self.chunks.append(np.zeros(offset - self.length, np.int16))
            self.length = offset
        self.chunks.append(ev.samples)
        self.length += len(ev.samples)

    def audio_until(self, n: int) -> np.ndarray:
        """The first `n` samples as float32 (and keep only those)."""
        pcm = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        pcm = pcm[:n]
        self.chunks, self.length = [pcm], len(pcm)
        return pcm.astype(np.float32) / 32768.0


@dataclass(frozen=True)
class Ended:
    """An utterance whose end was handled (at ``endpoint_ns``) and whose final decode waits."""

    u: Utterance
    end: UttEnd
    endpoint_ns: int


@dataclass
class Lane:
    """One stream as the worker sees it. Its events are handled in order; after an end, the
    following ones wait in ``backlog`` until that utterance's final is published, so every
    stream's events keep their order while finals of several streams are decoded together."""

    src: StreamInput
    context: PromptContext
    cur: Utterance | None = None
    ended: Ended | None = None
    backlog: deque = field(default_factory=deque)
    closed: bool = False  # its EndOfStream was handled

    @property
    def label(self) -> str:
        return self.src.label

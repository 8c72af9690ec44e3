"""Voice-activity segmentation: turns a sample stream into utterance events. Pure, no I/O.

The :class:`Segmenter` cuts the stream into fixed VAD frames (10/20/30 ms), classifies each frame
as voiced or not (by default with :class:`~stenod.daemon.vad.FrameVad`: webrtcvad, a spectral
gate, a gate on the level above the room's tracked floor, and, in the daemon, silero-vad), and runs
a small state machine over them:

* **idle → speech** when ``onset_ms`` of consecutive voiced frames arrive. The utterance starts
  ``preroll_ms`` before that voiced run (never before the previous utterance's end), so the soft
  first syllable the VAD missed is still decoded.
* **speech**: voiced audio is forwarded as :class:`UttAudio` as soon as it is framed, for partial
  decodes. Unvoiced frames are *held back*: if speech resumes they are forwarded (an inner pause
  belongs to the utterance), if the utterance ends they are dropped. So after a
  :class:`UttTentativeEnd` or a :class:`UttEnd` for silence or flush, the audio forwarded for the
  utterance is exactly ``[start, end)``.
* after ``early_ms`` of silence a :class:`UttTentativeEnd` is announced, so the inference worker
  can start the final decode while the rest of the hangover elapses; :class:`UttResumed` takes it
  back if speech returns. After ``hangover_ms`` of silence the utterance ends (:class:`UttEnd`).
* **text-aware endpointing** (a segmenter built with ``verdicts=True`` and ``text_endpoint``
  on): the inference worker reads the decode started at the tentative end
  (:mod:`stenod.daemon.endpoint`). If it closes a sentence, :meth:`Segmenter.sentence_end` ends
  the utterance (reason ``"sentence"``) once the pause has lasted ``sentence_min_ms``, at once if
  it already has, even before ``hangover_ms``; until that verdict
  comes, the pause is taken for one inside the sentence, and the utterance ends after
  ``open_hangover_ms`` of silence instead of ``hangover_ms``. A verdict that comes after the
  speech resumed is ignored (the utterance goes on); speech after an early end starts the next
  utterance as usual (onset, pre-roll that never reaches before the end).
* an utterance reaching ``max_utterance_s`` is split at the start of the longest unvoiced run in
  its last ``split_search_s`` (latest run on ties), or cut where it stands if there is none. The
  next utterance starts exactly at the split point and its audio (already forwarded to the old
  utterance) is forwarded again: consumers must trim an utterance to ``[start, end)`` on
  :class:`UttEnd`. If only silence follows the split point, the utterance simply ends and the
  segmenter goes idle.

Positions are absolute sample indices on the stream timeline (as the ring buffer reports them). A
forward jump in ``start_index`` (the ring dropped audio) ends any open utterance with reason
``"gap"`` and restarts framing at the new position.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, Union

import numpy as np

from stenod.config.vad import VadConfig
from stenod.daemon.endpoint import SentenceEnd
from stenod.daemon.vad import FrameVad, NeuralStage

EndReason = Literal["silence", "sentence", "max_length", "flush", "gap"]


# ---------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class UttStart:
    """Utterance ``utt`` begins at sample ``start`` (pre-roll included)."""

    utt: int
    start: int


@dataclass(frozen=True, eq=False)
class UttAudio:
    """Contiguous audio of utterance ``utt`` starting at sample ``start`` (chunking varies with
    the caller's block sizes; the concatenation does not)."""

    utt: int
    start: int
    samples: np.ndarray

    @property
    def end(self) -> int:
        """Sample index one past the last sample of this chunk."""
        return self.start + int(self.samples.shape[0])


@dataclass(frozen=True)
class UttTentativeEnd:
    """Silence reached ``early_ms`` inside ``utt``; speech so far ends at ``end``. A final decode
    of ``[start, end)`` may start now; commit it on :class:`UttEnd` with the same ``end``."""

    utt: int
    end: int


@dataclass(frozen=True)
class UttResumed:
    """Speech came back after a tentative end of ``utt``: discard any speculative final decode."""

    utt: int


@dataclass(frozen=True)
class UttEnd:
    """Utterance ``utt`` is over; its audio is ``[start, end)`` (``end`` is the end of its last
    voiced frame, or the split point for ``max_length``)."""

    utt: int
    end: int
    reason: EndReason


SegEvent = Union[UttStart, UttAudio, UttTentativeEnd, UttResumed, UttEnd]


class _Frame(NamedTuple):
    start: int
    voiced: bool
    samples: np.ndarray


# ------------------------------------------------------------------------------- segmenter


class Segmenter:
    """Streaming VAD segmenter; see the module docstring for the rules. Not thread-safe: one
    owner thread feeds it."""

    def __init__(
        self,
        cfg: VadConfig | None = None,
        sample_rate: int = 16000,
        vad: Callable[[bytes], bool] | None = None,
        neural: NeuralStage | None = None,
        verdicts: bool = False,
    ) -> None:
        """``verdicts``: a worker answers tentative ends with :meth:`sentence_end` (text-aware
        endpointing, when ``cfg.text_endpoint`` is on too)."""
        cfg = cfg if cfg is not None else VadConfig()
        if sample_rate <= 0 or (sample_rate * cfg.frame_ms) % 1000:
            raise ValueError(f"sample_rate {sample_rate} does not give whole {cfg.frame_ms} ms frames")
        if vad is None:
            vad = FrameVad(sample_rate=sample_rate, frame_ms=cfg.frame_ms, aggressiveness=cfg.aggressiveness,
                           speech_gate=cfg.speech_gate, snr_db=cfg.snr_db, floor_window_s=cfg.floor_window_s,
                           neural=neural, neural_threshold=cfg.neural_threshold)
        self.cfg = cfg
        self.sample_rate = sample_rate
        self._vad = vad
        self._flen = sample_rate * cfg.frame_ms // 1000

        def frames(ms: float) -> int:
            return math.ceil(ms / cfg.frame_ms)

        self._onset = max(1, frames(cfg.onset_ms))
        self._hang = max(1, frames(cfg.hangover_ms))
        self._pre = frames(cfg.preroll_ms)
        self._early = frames(cfg.early_ms)
        self._resume = max(1, frames(cfg.resume_ms))
        self._open_hang = max(self._hang, frames(cfg.open_hangover_ms))
        self._sentence_min = frames(cfg.sentence_min_ms)
        self._text = verdicts and cfg.text_endpoint and self._early > 0
        self._max = round(cfg.max_utterance_s * sample_rate)
        self._search = round(cfg.split_search_s * sample_rate)
        keep = max(self._search // self._flen + 1, self._pre + self._onset, self._open_hang)
        self._hist: deque[_Frame] = deque(maxlen=keep + 1)

        self._next: int | None = None  # stream index one past the last sample fed
        self._pending = np.zeros(0, dtype=np.int16)  # samples of an incomplete frame
        self._frames = 0
        self._voiced_frames = 0
        self._utt = 0  # number of the current or last utterance
        self._active = False
        self._utt_start = 0
        self._last_voiced_end = 0
        self._silence_run = 0  # unvoiced frames since the last voiced one (speech state)
        self._tentative = False
        self._hang_now = self._hang  # silence that ends the current pause (longer awaiting a verdict)
        self._verdict = False  # a sentence verdict on the current pause, waiting for sentence_min_ms
        self._resume_run = 0  # consecutive voiced frames inside a silence (speech state)
        self._voiced_run = 0  # consecutive voiced frames (idle state)
        self._floor = 0  # pre-roll never reaches before this (end of the previous utterance)
        self._out: list[np.ndarray] = []  # audio to be emitted as one UttAudio
        self._out_utt = 0
        self._out_start = 0
        self._out_end = 0

    # ---------------------------------------------------------------------------- public API

    @property
    def frames(self) -> int:
        """VAD frames classified so far."""
        return self._frames

    @property
    def voiced_frames(self) -> int:
        """VAD frames classified as speech so far."""
        return self._voiced_frames

    @property
    def active(self) -> bool:
        """True while an utterance is open."""
        return self._active

    def feed(self, start_index: int, samples: np.ndarray) -> list[SegEvent]:
        """Process int16 ``samples`` starting at absolute stream index ``start_index``; any block
        size works. Returns the events they complete, in stream order."""
        if samples.dtype != np.int16:
            raise ValueError(f"segmenter takes int16 samples, got {samples.dtype}")
        samples = samples.reshape(-1)
        events: list[SegEvent] = []
        if self._next is not None and start_index != self._next:
            if start_index < self._next:
                raise ValueError(f"audio overlaps: got start {start_index}, expected {self._next}")
            self._gap(events)
        flen = self._flen
        buf = np.concatenate((self._pending, samples)) if self._pending.size else samples
        buf_start = start_index - self._pending.size
        whole = buf.shape[0] // flen
        for i in range(whole):
            self._frame(buf_start + i * flen, buf[i * flen : (i + 1) * flen].copy(), events)
        self._pending = buf[whole * flen :].copy()
        self._next = start_index + samples.shape[0]
        self._flush_audio(events)
        return events

    def sentence_end(self, ev: SentenceEnd) -> list[SegEvent]:
        """The decode of ``utt`` up to ``ev.end`` closes a sentence: end the utterance now if it
        is still in the pause that began at ``ev.end``; otherwise (speech resumed, the utterance
        already ended, endpointing off) nothing happens."""
        events: list[SegEvent] = []
        if self._text and self._active and self._tentative and ev.utt == self._utt \
                and ev.end == self._last_voiced_end:
            self._verdict = True
            if self._silence_run >= self._sentence_min:
                self._sentence_end(events)
        return events

    def flush(self) -> list[SegEvent]:
        """End the open utterance, if any (reason ``"flush"``): end of file or stdin. An
        incomplete trailing frame stays buffered in case more audio follows."""
        events: list[SegEvent] = []
        if self._active:
            self._end(events, self._last_voiced_end, "flush")
        return events

    # ------------------------------------------------------------------------------ internals

    def _frame(self, start: int, samples: np.ndarray, events: list[SegEvent]) -> None:
        voiced = bool(self._vad(samples.tobytes()))
        self._frames += 1
        self._voiced_frames += voiced
        self._hist.append(_Frame(start, voiced, samples))
        end = start + self._flen
        if not self._active:
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= self._onset:
                self._onset_reached(events, end)
            return
        self._resume_run = self._resume_run + 1 if voiced else 0
        if voiced and (not self._silence_run or self._resume_run >= self._resume):
            if self._silence_run:
                if self._tentative:
                    self._emit(events, UttResumed(self._utt))
                held = list(self._hist)[-self._silence_run - 1 : -1]
                for f in held:
                    self._send(events, f.start, f.samples)
            self._send(events, start, samples)
            self._last_voiced_end = end
            self._silence_run = 0
            self._tentative = self._verdict = False
            self._hang_now = self._hang
        else:  # silence, or a voiced blip too short to resume: the hangover runs on
            self._silence_run += 1
            if self._early and not self._tentative and self._silence_run >= self._early:
                self._tentative_end(events)
            if self._verdict and self._silence_run >= self._sentence_min:
                self._sentence_end(events)
                return
            if self._silence_run >= self._hang_now:
                self._end(events, self._last_voiced_end, "silence")
                self._voiced_run = self._resume_run  # a blip that outlasted the hangover may be an onset
                return
        if end - self._utt_start >= self._max:
            self._split(events, end)

    def _sentence_end(self, events: list[SegEvent]) -> None:
        self._end(events, self._last_voiced_end, "sentence")
        self._voiced_run = self._resume_run  # a blip in progress may be the next onset

    def _onset_reached(self, events: list[SegEvent], end: int) -> None:
        onset_start = end - self._onset * self._flen
        start = max(onset_start - self._pre * self._flen, self._floor, self._hist[0].start)
        self._begin(events, start)
        for f in self._hist:
            if f.start >= start:
                self._send(events, f.start, f.samples)
        self._last_voiced_end = end

    def _begin(self, events: list[SegEvent], start: int) -> None:
        self._utt += 1
        self._active = True
        self._utt_start = start
        self._last_voiced_end = start
        self._silence_run = 0
        self._tentative = False
        self._hang_now = self._hang
        self._voiced_run = 0
        self._emit(events, UttStart(self._utt, start))

    def _end(self, events: list[SegEvent], end: int, reason: EndReason) -> None:
        self._emit(events, UttEnd(self._utt, end, reason))
        self._active = self._verdict = False
        self._floor = end
        self._voiced_run = 0
        self._silence_run = 0
        self._tentative = False

    def _split(self, events: list[SegEvent], end: int) -> None:
        """Split an utterance that reached the maximum length; see the module docstring."""
        window_start = max(self._utt_start, end - self._search)
        window = [f for f in self._hist if f.start >= window_start]
        best: tuple[int, int] | None = None  # (run length, index of its first frame)
        run_from: int | None = None
        for i, f in enumerate([*window, _Frame(end, True, self._pending)]):  # sentinel closes a run
            if not f.voiced and run_from is None:
                run_from = i
            elif f.voiced and run_from is not None:
                if best is None or i - run_from >= best[0]:
                    best = (i - run_from, run_from)
                run_from = None
        if best is None:  # voiced throughout: hard cut here, the speaker goes on
            self._end(events, end, "max_length")
            self._begin(events, end)
            return
        cut = window[best[1]].start
        rest = window[best[1] :]
        self._end(events, cut, "max_length")
        voiced = [i for i, f in enumerate(rest) if f.voiced]
        if not voiced:  # split at the trailing pause: nothing left to carry over
            return
        self._begin(events, cut)
        last = voiced[-1]
        for f in rest[: last + 1]:
            self._send(events, f.start, f.samples)
        self._last_voiced_end = rest[last].start + self._flen
        self._silence_run = len(rest) - last - 1
        if self._early and self._silence_run >= self._early:
            self._tentative_end(events)

    def _tentative_end(self, events: list[SegEvent]) -> None:
        """Announce the tentative end; with text endpointing the pause now lasts until a verdict
        says the sentence is over, at most ``open_hangover_ms``."""
        self._emit(events, UttTentativeEnd(self._utt, self._last_voiced_end))
        self._tentative = True
        self._hang_now = self._open_hang if self._text else self._hang

    def _gap(self, events: list[SegEvent]) -> None:
        """Audio was lost upstream: close the utterance and restart framing after the gap."""
        if self._active:
            self._end(events, self._last_voiced_end, "gap")
        self._hist.clear()
        self._pending = np.zeros(0, dtype=np.int16)
        self._voiced_run = 0

    def _send(self, events: list[SegEvent], start: int, samples: np.ndarray) -> None:
        if self._out and (self._out_utt != self._utt or self._out_end != start):
            self._flush_audio(events)
        if not self._out:
            self._out_utt = self._utt
            self._out_start = self._out_end = start
        self._out.append(samples)
        self._out_end += samples.shape[0]

    def _emit(self, events: list[SegEvent], event: SegEvent) -> None:
        self._flush_audio(events)
        events.append(event)

    def _flush_audio(self, events: list[SegEvent]) -> None:
        if self._out:
            events.append(UttAudio(self._out_utt, self._out_start, np.concatenate(self._out)))
            self._out = []


__all__ = [
    "EndReason", "VadConfig", "UttStart", "UttAudio", "UttTentativeEnd", "UttResumed", "UttEnd",
    "SegEvent", "Segmenter",
]  # fmt: skip

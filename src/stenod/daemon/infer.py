"""The inference worker: alone owns the model; turns segmenter events into partials and finals.

Each pass it takes *all* queued events, so when it falls behind, partials are coalesced (only the
newest state of an utterance is decoded) while finals are never dropped. At a tentative end (the
first silence frames) it starts the final decode at once, in parallel with the hangover wait; if
the utterance then ends where the tentative end said, that decode is the final, otherwise it is
discarded. With text-aware endpointing (`daemon/endpoint.py`) the worker tells the segmenter,
through the inbox, when that decode closes a sentence, and the segmenter ends the utterance
without waiting out the hangover. Finals may decode with beam search (`[decode] final_beams`);
partials stay greedy, and a partial is reused as the final only when finals are greedy too. Every
decode gets the prompt of its utterance: the vocabulary and the session's recent finals
(`context.py`). Publishing rules for one utterance: `speech.start` at onset, partials with
non-empty text, one `final` when the text is non-empty or a partial was shown (an empty final
retracts it), and `speech.end` always.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stenod import SAMPLE_RATE
from stenod.daemon.gate import UttDictation
from stenod.config import DecodeConfig
from stenod.daemon.context import PromptContext
from stenod.daemon.endpoint import SentenceEnd, SentenceRule
from stenod.daemon.segment import UttAudio, UttEnd, UttResumed, UttStart, UttTentativeEnd
from stenod.daemon.stabilize import Stabilizer
from stenod.daemon.supervise import fault_point
from stenod.protocol import AudioSpan, Final, Partial, SpeechEnd, SpeechStart, StatusEvent
from stenod.asr.api import Backend, BackendLoader
from stenod.types import DecodeRequest, Transcript

log = logging.getLogger("stenod.infer")


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

    def __init__(self, maxsize: int = 100_000):
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
        """The worker is done with `ev` (taken by :meth:`take_all`)."""
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

    def take_all(self) -> list:
        """Block for one event, then return it with everything else queued."""
        items = [self._q.get()]
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
class _Decoded:
    """One decode of an utterance's audio up to sample ``end``, started at ``started_ns``
    (monotonic): when the final's decode started is part of its latency budget."""

    end: int
    t: Transcript
    started_ns: int


@dataclass
class _Utterance:
    utt: int
    start: int
    chunks: list[np.ndarray] = field(default_factory=list)
    length: int = 0
    rev: int = 0
    decoded_to: int = 0
    shown: bool = False  # a non-empty partial was published
    dictation: bool = False  # spoken while dictation was on (see daemon.gate)
    tentative_end: int | None = None
    early: _Decoded | None = None  # the decode started at the tentative end
    last: _Decoded | None = None  # the latest decode
    tokens: list[int] = field(default_factory=list)  # latest decoded tokens: the next decode's draft
    prompt: list[int] = field(default_factory=list)  # vocabulary and previous text, for every decode
    stabilizer: Stabilizer = field(default_factory=Stabilizer)

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


class InferenceWorker(threading.Thread):
    def __init__(self, load: BackendLoader, inbox: Inbox, publish: Callable[[object], None],
                 timeline: Timeline, partial_interval_s: float, preroll_s: float, stats, on_ready: Callable[[object], None],
                 on_done: Callable[[str | None], None], decode: DecodeConfig = DecodeConfig(),
                 endpoint: SentenceRule | None = None):
        super().__init__(name="inference", daemon=True)
        self.load, self.inbox, self.publish = load, inbox, publish
        self.timeline, self.stats = timeline, stats
        self.partial_samples = int(partial_interval_s * SAMPLE_RATE)
        # The first partial waits for `partial_interval_s` of audio after the pre-roll: decoding
        # little more than the pre-roll gives nothing but costs a whole decode.
        self.first_partial_samples = int((partial_interval_s + preroll_s) * SAMPLE_RATE)
        self.on_ready, self.on_done = on_ready, on_done
        self.decode = decode
        self.endpoint = endpoint  # the sentence rule of text-aware endpointing, or None (off)
        self.context = PromptContext(decode.prompt_reset_s)
        self.final_beams = 1  # set for the backend's device once it is loaded
        self.backend: Backend | None = None
        self.cur: _Utterance | None = None
        self.busy_since: float | None = None  # monotonic start of the decode in progress (watchdog)
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.inbox.put(EndOfStream())

    def run(self) -> None:
        try:
            self.backend = self.load()
        except Exception as exc:  # noqa: BLE001 - reported to the user by the service, which exits
            log.debug("model load failed", exc_info=True)
            self.on_done(str(exc))
            return
        self.final_beams = self.decode.beams_for(self.backend.device)
        self.on_ready(self.backend)
        error = None
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - a bug here must stop the daemon loudly, not hang it
            log.exception("inference worker failed")
            error = f"inference worker failed: {exc}"
        self.on_done(error)

    def _loop(self) -> None:
        while True:
            for ev in self.inbox.take_all():
                if isinstance(ev, EndOfStream):
                    return
                self._handle(ev)
                self.inbox.handled(ev)
            if self._halt.is_set():
                return
            self._maybe_decode_ahead()

    def _handle(self, ev) -> None:
        if isinstance(ev, ReloadModel):
            self._reload(ev)
        elif isinstance(ev, UttStart):
            self.cur = _Utterance(ev.utt, ev.start)
            context = self.context.text_for(ev.start) if self.decode.prompt else ""
            if context or self.decode.vocabulary:
                self.cur.prompt = self.backend.encode_prompt(self.decode.vocabulary, context, self.decode.prompt_tokens)
            self.stats.count("utterances")
            self.publish(SpeechStart(utt=ev.utt, audio_ms=_ms(ev.start)))
        elif self.cur is None or getattr(ev, "utt", None) != self.cur.utt:
            log.debug("event for an unknown utterance dropped: %r", ev)
        elif isinstance(ev, UttAudio):
            self.cur.add(ev)
        elif isinstance(ev, UttDictation):
            self.cur.dictation = True
        elif isinstance(ev, UttTentativeEnd):
            self.cur.tentative_end = ev.end
        elif isinstance(ev, UttResumed):
            self.cur.tentative_end, self.cur.early = None, None
        elif isinstance(ev, UttEnd):
            self._final(self.cur, ev)
            self.cur = None

    def _reload(self, ev: ReloadModel) -> None:
        try:
            backend = ev.load()
        except Exception as exc:  # noqa: BLE001 - any load failure keeps the running model
            log.error("reloading the model failed, keeping %s: %s", self.backend.name, exc)
            self.stats.count("reload_errors")
            return
        self.backend = backend
        if self.cur is not None:
            self.cur.tokens = []  # the old model's tokens are no draft for the new one
        self.on_ready(backend)

    def _maybe_decode_ahead(self) -> None:
        """Between events: start the final decode at a tentative end, or decode a partial."""
        u = self.cur
        if u is None:
            return
        if u.tentative_end is not None and u.early is None:
            if self.final_beams == 1 and u.last is not None and u.last.end == u.tentative_end:
                u.early = u.last  # the last partial already decoded exactly this audio
                self._judge_end(u)
                return
            n = u.tentative_end - u.start
            t = self._decode(u, n, cancel=lambda: u.utt in self.inbox.resumed, beams=self.final_beams)
            if t is not None:
                u.early = u.last
                self._judge_end(u)
                self._partial(u, t, n)
        elif u.tentative_end is None and u.length - u.decoded_to >= self.partial_samples \
                and u.length >= self.first_partial_samples:
            n = u.length
            t = self._decode(u, n, cancel=lambda: self.inbox.ending_before(u.start + n))
            if t is not None:
                self._partial(u, t, n)

    def _judge_end(self, u: _Utterance) -> None:
        """Text-aware endpointing: tell the segmenter when the early decode closes a sentence."""
        if self.endpoint is not None and u.early is not None and self.endpoint.ends_sentence(u.early.t):
            self.inbox.post_verdict(SentenceEnd(u.utt, u.early.end))

    def _decode(self, u: _Utterance, n: int, cancel=None, beams: int = 1) -> Transcript | None:
        """Decode the utterance's first `n` samples, using its latest tokens as a draft (greedy)
        or with beam search. Returns None when `cancel()` became true during the decode."""
        audio = u.audio_until(min(max(0, n), u.length))
        started_ns = time.monotonic_ns()
        self.busy_since = started_ns / 1e9
        try:
            fault_point("decode")
            (t,) = self.backend.transcribe_batch([DecodeRequest(
                audio, prompt=tuple(u.prompt), draft=tuple(u.tokens) if beams == 1 else (), beams=beams,
                cancel=cancel)])
        except (RuntimeError, ValueError) as exc:
            log.error("decoding utterance %d failed: %s", u.utt, exc)
            self.stats.count("decode_errors")
            t = Transcript(text="", guard=f"error: {exc}", audio_s=len(audio) / SAMPLE_RATE)
            u.last = _Decoded(u.start + n, t, started_ns)
            return t
        finally:
            self.busy_since = None
        if t is None:
            self.stats.count("decodes_cancelled")
            return None
        if not t.text and t.guard:
            self.stats.count("guard_drops")
        self.stats.record_decode(t)
        if t.tokens:
            u.tokens = list(t.tokens)
        u.last = _Decoded(u.start + n, t, started_ns)
        return t

    def _partial(self, u: _Utterance, t: Transcript, n: int) -> None:
        u.decoded_to = n
        if not t.text:
            return
        text, stable = u.stabilizer.update(t.text)
        u.rev += 1
        u.shown = True
        self.publish(Partial(utt=u.utt, rev=u.rev, audio=AudioSpan(_ms(u.start), _ms(u.start + n)), text=text,
                             stable_len=stable, dictation=u.dictation))

    def _final(self, u: _Utterance, ev: UttEnd) -> None:
        endpoint_ns = time.monotonic_ns()
        ahead = u.early if u.early is not None and u.early.end == ev.end else u.last if self.final_beams == 1 else None
        early = ahead is not None and ahead.end == ev.end
        if ahead is not None and early:
            t, started_ns = ahead.t, ahead.started_ns
        else:
            started_ns = time.monotonic_ns()
            t = self._decode(u, ev.end - u.start, beams=self.final_beams)
        # The final is the decode of the whole utterance, even where it disagrees with words the
        # partials had agreed on: early partials of short audio can agree on a wrong beginning
        # that the full decode gets right (seen on the corpus), and the final must be the best text.
        text, stable = t.text, len(t.text)
        if not text.startswith(" ".join(u.stabilizer.committed_words)):
            self.stats.count("finals_revising_stable_text")
        if text or u.shown:
            speech_end_ns = self.timeline.mono_ns(ev.end)
            timings = {
                "speech_start_ms": _ms(u.start), "speech_end_ms": _ms(ev.end), "end_reason": ev.reason,
                "endpoint_mono_ns": endpoint_ns, "speech_end_mono_ns": speech_end_ns,
                "decode_start_mono_ns": started_ns,
                "stream_origin_mono_ns": self.timeline.origin_ns(),
                "inference_ms": round(t.total_ms, 1), "encode_ms": round(t.encode_ms, 1),
                "decode_ms": round(t.decode_ms, 1), "early_decode": early,
                "no_speech_prob": round(t.no_speech_prob, 4), "avg_logprob": round(t.avg_logprob, 4),
                "guard": t.guard, "beams": self.final_beams, "prompt_tokens": len(u.prompt),
                "end_logprob": round(min(t.token_logprobs[-2:]), 4) if t.token_logprobs else None,
                **t.stats.timings(),
            }
            u.rev += 1
            self.publish(Final(utt=u.utt, rev=u.rev, audio=AudioSpan(_ms(u.start), _ms(ev.end)), text=text,
                               stable_len=stable, model=self.backend.name, timings=timings,
                               dictation=u.dictation))
        self.context.add(text, ev.end, guard=t.guard, avg_logprob=t.avg_logprob)
        self.publish(SpeechEnd(utt=u.utt, audio_ms=_ms(ev.end)))


def _ms(sample: int) -> int:
    return int(round(sample * 1000 / SAMPLE_RATE))


def status_event(state: str, **detail) -> StatusEvent:
    return StatusEvent(state=state, detail=detail)

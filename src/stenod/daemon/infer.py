"""The inference worker: alone owns the model; turns the segmenter events of every stream into
partials and finals.

Each pass it takes *all* queued events of all streams, so when it falls behind, partials are
coalesced (only the newest state of an utterance is decoded) while finals are never dropped; the
scheduler (`schedule.py`) then picks the next decodes, finals first, and they run as one batch
when the backend batches. At a tentative end (the
first silence frames) it starts the final decode at once, in parallel with the hangover wait; if
the utterance then ends where the tentative end said, that decode is the final, otherwise it is
discarded. With text-aware endpointing (`daemon/endpoint.py`) the worker tells the segmenter,
through the inbox, when that decode closes a sentence, and the segmenter ends the utterance
without waiting out the hangover. Finals may decode with beam search (`[decode] final_beams`);
partials stay greedy, and a partial is reused as the final only when finals are greedy too. Every
decode gets the prompt of its utterance: the vocabulary and its stream's recent finals
(`context.py`). Publishing rules for one utterance: `speech.start` at onset, partials with
non-empty text, one `final` when the text is non-empty or a partial was shown (an empty final
retracts it), and `speech.end` always.
"""


from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from stenod import SAMPLE_RATE
from stenod.asr.api import Backend, BackendLoader
from stenod.config import DecodeConfig
from stenod.daemon.context import PromptContext
from stenod.daemon.endpoint import SentenceEnd, SentenceRule
from stenod.daemon.gate import UttDictation
from stenod.daemon.inbox import EndOfStream, ReloadModel, StreamInput
from stenod.daemon.schedule import Job, Kind, Scheduler
from stenod.daemon.segment import UttAudio, UttEnd, UttResumed, UttStart, UttTentativeEnd
from stenod.daemon.supervise import fault_point
from stenod.daemon.utterance import Decoded, Ended, Lane, Utterance
from stenod.protocol import AudioSpan, Final, Partial, SpeechEnd, SpeechStart, StatusEvent
from stenod.types import DecodeRequest, Transcript

log = logging.getLogger("stenod.infer")
WAKE_S = 1.0
"""The longest the idle worker sleeps between looks at its inboxes (a put rings it at once)."""


class InferenceWorker(threading.Thread):
    def __init__(self, load: BackendLoader, inputs: Sequence[StreamInput], publish: Callable[[object], None],
                 partial_interval_s: float, preroll_s: float, stats, on_ready: Callable[[object], None],
                 on_done: Callable[[str | None], None], decode: DecodeConfig = DecodeConfig(),
                 endpoint: SentenceRule | None = None, scheduler: Scheduler | None = None):
        super().__init__(name="inference", daemon=True)
        if not inputs or len({i.label for i in inputs}) != len(inputs):
            raise ValueError("the worker needs one or more streams with distinct labels")
        self.load, self.publish, self.stats = load, publish, stats
        self.lanes = [Lane(i, PromptContext(decode.prompt_reset_s)) for i in inputs]
        self._by_label = {lane.label: lane for lane in self.lanes}
        self.bell = inputs[0].inbox.bell
        if any(i.inbox.bell is not self.bell for i in inputs):
            raise ValueError("all streams' inboxes must share one bell")
        self.partial_samples = int(partial_interval_s * SAMPLE_RATE)
        # The first partial waits for `partial_interval_s` of audio after the pre-roll: decoding
        # little more than the pre-roll gives nothing but costs a whole decode.
        self.first_partial_samples = int((partial_interval_s + preroll_s) * SAMPLE_RATE)
        self.on_ready, self.on_done = on_ready, on_done
        self.decode = decode
        self.endpoint = endpoint  # the sentence rule of text-aware endpointing, or None (off)
        self.scheduler = scheduler or Scheduler()
        self.final_beams = 1  # set for the backend's device once it is loaded
        self.batching = False  # whether the backend decodes several requests as one batch
        self.backend: Backend | None = None
        self.busy_since: float | None = None  # monotonic start of the decode in progress (watchdog)
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        for lane in self.lanes:
            lane.src.inbox.put(EndOfStream())

    def run(self) -> None:
        try:
            self._use(self.load())
        except Exception as exc:  # noqa: BLE001 - reported to the user by the service, which exits
            log.debug("model load failed", exc_info=True)
            self.on_done(str(exc))
            return
        error = None
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - a bug here must stop the daemon loudly, not hang it
            log.exception("inference worker failed")
            error = f"inference worker failed: {exc}"
        self.on_done(error)

    def _use(self, backend: Backend) -> None:
        self.backend = backend
        self.final_beams = self.decode.beams_for(backend.device)
        self.batching = backend.status().batching
        self.on_ready(backend)

    def _loop(self) -> None:
        busy = False
        while True:
            if not busy:
                self.bell.wait(WAKE_S)
            self.bell.clear()
            for lane in self.lanes:
                lane.backlog.extend(lane.src.inbox.take_pending())
                self._drain(lane)
            if all(lane.closed for lane in self.lanes):
                return
            if self._halt.is_set() and not any(lane.ended for lane in self.lanes):
                return
            jobs = self._jobs()
            busy = bool(jobs)
            if jobs:
                self._run(self.scheduler.next_batch(jobs, self.batching))

    def _drain(self, lane: Lane) -> None:
        """Handle the lane's events in order, up to an end whose final must be decoded first."""
        while lane.backlog and lane.ended is None and not lane.closed:
            ev = lane.backlog.popleft()
            if isinstance(ev, EndOfStream):
                lane.closed = True
            else:
                self._handle(lane, ev)
            lane.src.inbox.handled(ev)

    def _handle(self, lane: Lane, ev) -> None:
        u = lane.cur
        if isinstance(ev, ReloadModel):
            self._reload(ev)
        elif isinstance(ev, UttStart):
            lane.cur = Utterance(ev.utt, ev.start)
            context = lane.context.text_for(ev.start) if self.decode.prompt else ""
            if context or self.decode.vocabulary:
                lane.cur.prompt = self.backend.encode_prompt(self.decode.vocabulary, context, self.decode.prompt_tokens)
            self.stats.count("utterances")
            self.publish(SpeechStart(utt=ev.utt, audio_ms=_ms(ev.start), stream=lane.label))
        elif u is None or not isinstance(ev, (UttAudio, UttDictation, UttTentativeEnd, UttResumed, UttEnd)) \
                or ev.utt != u.utt:
            log.debug("event for an unknown utterance dropped: %r", ev)
        elif isinstance(ev, UttAudio):
            u.add(ev)
        elif isinstance(ev, UttDictation):
            u.dictation = True
        elif isinstance(ev, UttTentativeEnd):
            u.tentative_end, u.due_ns = ev.end, time.monotonic_ns()
        elif isinstance(ev, UttResumed):
            u.tentative_end, u.early = None, None
        elif isinstance(ev, UttEnd):
            lane.cur = None
            endpoint_ns = time.monotonic_ns()
            ahead = u.early if u.early is not None and u.early.end == ev.end else u.last if self.final_beams == 1 else None
            if ahead is not None and ahead.end == ev.end:
                self._final(lane, u, ev, ahead, endpoint_ns, early=True)
            else:
                lane.ended = Ended(u, ev, endpoint_ns)

    def _reload(self, ev: ReloadModel) -> None:
        try:
            backend = ev.load()
        except Exception as exc:  # noqa: BLE001 - any load failure keeps the running model
            log.error("reloading the model failed, keeping %s: %s", self.backend.name, exc)
            self.stats.count("reload_errors")
            return
        for lane in self.lanes:
            if lane.cur is not None:
                lane.cur.tokens = []  # the old model's tokens are no draft for the new one
        self._use(backend)

    # -- scheduling --------------------------------------------------------------------------
    def _jobs(self) -> list[Job]:
        """One job per stream with something to decode: its final, the final's early decode at a
        tentative end, or a partial of the newest audio."""
        jobs = []
        for lane in self.lanes:
            if lane.ended is not None:
                jobs.append(Job(lane.label, lane.ended.u.utt, Kind.FINAL, lane.ended.endpoint_ns))
                continue
            u = lane.cur
            if u is None:
                continue
            if u.tentative_end is not None and u.early is None:
                if self.final_beams == 1 and u.last is not None and u.last.end == u.tentative_end:
                    u.early = u.last  # the last partial already decoded exactly this audio
                    self._judge_end(lane, u)
                else:
                    jobs.append(Job(lane.label, u.utt, Kind.EARLY, u.due_ns))
            elif u.tentative_end is None and u.length - u.decoded_to >= self.partial_samples \
                    and u.length >= self.first_partial_samples:
                jobs.append(Job(lane.label, u.utt, Kind.PARTIAL, u.due_ns))
        return jobs

    def _request(self, lane: Lane, job: Job) -> tuple[Utterance, int, DecodeRequest]:
        """The utterance, the samples to decode and the request of one job."""
        inbox = lane.src.inbox
        beams, cancel = self.final_beams, None
        if job.kind == Kind.FINAL:
            u = lane.ended.u
            n = lane.ended.end.end - u.start
        elif job.kind == Kind.EARLY:
            u = lane.cur
            n = u.tentative_end - u.start
            cancel = lambda utt=u.utt: utt in inbox.resumed  # noqa: E731
        else:
            u, beams = lane.cur, 1
            n = u.length
            # abandoned when its own speech ended elsewhere, or when another stream's did: that
            # stream's final must not wait for this partial
            others = [other.src.inbox.ending for other in self.lanes if other is not lane]
            cancel = lambda end=u.start + n: inbox.ending_before(end) or any(e.is_set() for e in others)  # noqa: E731
        audio = u.audio_until(min(max(0, n), u.length))
        return u, n, DecodeRequest(audio, prompt=tuple(u.prompt), draft=tuple(u.tokens) if beams == 1 else (),
                                   beams=beams, cancel=cancel)

    def _run(self, batch: list[Job]) -> None:
        """Decode the batch's jobs (one backend call), then publish what they give."""
        lanes = [self._by_label[job.stream] for job in batch]
        planned = [self._request(lane, job) for lane, job in zip(lanes, batch)]
        started_ns = time.monotonic_ns()
        self.busy_since = started_ns / 1e9
        failed = False
        try:
            fault_point("decode")
            results = self.backend.transcribe_batch([req for _, _, req in planned])
        except (RuntimeError, ValueError) as exc:
            log.error("decoding utterance %s failed: %s",
                      ", ".join(f"{j.stream}/{j.utt}" for j in batch), exc)
            self.stats.count("decode_errors", len(batch))
            failed = True
            results = [Transcript(text="", guard=f"error: {exc}", audio_s=len(req.audio) / SAMPLE_RATE)
                       for _, _, req in planned]
        finally:
            self.busy_since = None
        if len(batch) > 1:
            self.stats.count("batched_decodes", len(batch))
        for lane, job, (u, n, _), t in zip(lanes, batch, planned, results):
            if t is None:
                self.stats.count("decodes_cancelled")
                continue
            if failed:
                u.last = Decoded(u.start + n, t, started_ns)
            else:
                self._record(u, n, t, started_ns)
            u.due_ns = time.monotonic_ns()
            if job.kind == Kind.FINAL:
                ended, lane.ended = lane.ended, None
                self._final(lane, u, ended.end, u.last, ended.endpoint_ns, early=False)
                self._drain(lane)  # the events that waited for this final
            elif job.kind == Kind.EARLY:
                u.early = u.last
                self._judge_end(lane, u)
                self._partial(lane, u, t, n)
            else:
                self._partial(lane, u, t, n)

    def _record(self, u: Utterance, n: int, t: Transcript, started_ns: int) -> None:
        if not t.text and t.guard:
            self.stats.count("guard_drops")
        self.stats.record_decode(t)
        if t.tokens:
            u.tokens = list(t.tokens)
        u.last = Decoded(u.start + n, t, started_ns)

    def _judge_end(self, lane: Lane, u: Utterance) -> None:
        """Text-aware endpointing: tell the segmenter when the early decode closes a sentence."""
        if self.endpoint is not None and u.early is not None and self.endpoint.ends_sentence(u.early.t):
            lane.src.inbox.post_verdict(SentenceEnd(u.utt, u.early.end))

    # -- publishing --------------------------------------------------------------------------
    def _partial(self, lane: Lane, u: Utterance, t: Transcript, n: int) -> None:
        u.decoded_to = n
        if not t.text:
            return
        text, stable = u.stabilizer.update(t.text)
        u.rev += 1
        u.shown = True
        self.publish(Partial(utt=u.utt, rev=u.rev, audio=AudioSpan(_ms(u.start), _ms(u.start + n)), text=text,
                             stable_len=stable, dictation=u.dictation, stream=lane.label))

    def _final(self, lane: Lane, u: Utterance, ev: UttEnd, decoded: Decoded, endpoint_ns: int, early: bool) -> None:
        t, started_ns = decoded.t, decoded.started_ns
        # The final is the decode of the whole utterance, even where it disagrees with words the
        # partials had agreed on: early partials of short audio can agree on a wrong beginning
        # that the full decode gets right (seen on the corpus), and the final must be the best text.
        text, stable = t.text, len(t.text)
        if not text.startswith(" ".join(u.stabilizer.committed_words)):
            self.stats.count("finals_revising_stable_text")
        timeline = lane.src.timeline
        if text or u.shown:
            timings = {
                "speech_start_ms": _ms(u.start), "speech_end_ms": _ms(ev.end), "end_reason": ev.reason,
                "endpoint_mono_ns": endpoint_ns, "speech_end_mono_ns": timeline.mono_ns(ev.end),
                "decode_start_mono_ns": started_ns,
                "stream_origin_mono_ns": timeline.origin_ns(),
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
                               dictation=u.dictation, stream=lane.label))
        lane.context.add(text, ev.end, guard=t.guard, avg_logprob=t.avg_logprob)
        self.publish(SpeechEnd(utt=u.utt, audio_ms=_ms(ev.end), stream=lane.label))


def _ms(sample: int) -> int:
    return int(round(sample * 1000 / SAMPLE_RATE))


def status_event(state: str, **detail) -> StatusEvent:
    return StatusEvent(state=state, detail=detail)

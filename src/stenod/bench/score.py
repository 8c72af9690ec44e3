"""Scoring a streaming run against the stream plan: pure functions, no I/O.

Matching is by audio span on the stream timeline. A final *covers* an utterance when their spans
(the final's ``audio.start_ms``..``end_ms``, the manifest's ``start``..``end``) overlap by at least
:data:`MIN_OVERLAP_S`. Finals and utterances linked by coverage form groups:

- an utterance covered by no final is *missing*;
- a final covering two or more utterances *merges* them;
- an utterance covered by two or more finals is *split*.

Streaming WER compares, group by group, the utterances' texts joined in order with the finals'
texts joined in order (a missing utterance counts as all deletions), so a merge or a split costs
only the words it really gets wrong. Finals that cover no utterance are not in the WER: they are
hallucinations, counted as words (after :func:`~stenod.bench.metrics.normalize`) -- in the noise
files when they overlap one, otherwise in the session's pauses, nonspeech bursts or the silent
stretch. Retractions (empty finals) carry no words and cover nothing.

Latencies are wall-clock milliseconds measured with the subscriber's receive time:

- final latency of an utterance: from its true end (manifest) to the arrival of the last final
  that covers it (for a merge, the final that also holds the next utterance);
- first-partial latency: from its true start to the arrival of the first partial (or final, when
  no partial came first) whose span overlaps it.

A manifest time ``t`` (seconds on the stream) is due at ``origin + t / speed`` (monotonic). An
utterance whose true end came before the daemon was ready is left out of the latency statistics
(it measures start-up, not dictation) and counted in ``latency_excluded``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

from stenod.bench.corpus import Span, StreamPlan
from stenod.bench.metrics import normalize, word_errors

MIN_OVERLAP_S = 0.05


@dataclass
class Arrival:
    """A transcript event as the subscriber received it."""

    utt: int
    text: str
    start_s: float  # audio span on the stream timeline
    end_s: float
    recv_ns: int
    final: bool
    timings: dict[str, Any] = field(default_factory=dict)
    sent_ns: int = 0  # the daemon's t_mono_ns

    @classmethod
    def from_event(cls, event, recv_ns: int) -> "Arrival":
        from stenod.protocol import Final

        return cls(event.utt, event.text, event.audio.start_ms / 1000, event.audio.end_ms / 1000, recv_ns,
                   isinstance(event, Final), dict(getattr(event, "timings", {}) or {}), event.t_mono_ns)


@dataclass
class FinalScore:
    arrival: Arrival
    utterances: list[int] = field(default_factory=list)
    kind: str = "speech"  # speech | noise | nonspeech | retracted
    label: str = ""  # the noise file's kind for kind == "noise"
    words: int = 0


@dataclass
class UtteranceScore:
    index: int
    span: Span
    finals: list[int] = field(default_factory=list)
    hyp: str = ""
    final_latency_ms: float | None = None
    first_partial_ms: float | None = None
    before_ready: bool = False
    merged: bool = False  # one of its finals also covers another utterance

    @property
    def status(self) -> str:
        """ok, merged (shares a final with another utterance), split (two or more finals) or missing."""
        if not self.finals:
            return "missing"
        return "split" if len(self.finals) > 1 else "merged" if self.merged else "ok"


@dataclass
class StreamScore:
    utterances: list[UtteranceScore]
    finals: list[FinalScore]
    errors: int
    ref_words: int
    breakdown: dict[str, Any] = field(default_factory=dict)

    @property
    def wer(self) -> float:
        return 100.0 * self.errors / self.ref_words if self.ref_words else 0.0

    def _finals(self, kind: str) -> list[FinalScore]:
        return [f for f in self.finals if f.kind == kind]

    @property
    def missing(self) -> int:
        return sum(u.status == "missing" for u in self.utterances)

    @property
    def split(self) -> int:
        return sum(u.status == "split" for u in self.utterances)

    @property
    def merged(self) -> int:
        return sum(len(f.utterances) > 1 for f in self.finals)

    @property
    def nonspeech_words(self) -> int:
        return sum(f.words for f in self._finals("nonspeech"))

    @property
    def noise_words(self) -> int:
        return sum(f.words for f in self._finals("noise"))

    def noise_words_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self._finals("noise"):
            out[f.label] = out.get(f.label, 0) + f.words
        return out

    @property
    def final_latencies(self) -> list[float]:
        return [u.final_latency_ms for u in self.utterances if u.final_latency_ms is not None and not u.before_ready]

    @property
    def first_partials(self) -> list[float]:
        return [u.first_partial_ms for u in self.utterances if u.first_partial_ms is not None and not u.before_ready]

    @property
    def latency_excluded(self) -> int:
        return sum(u.before_ready for u in self.utterances)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return min(a1, b1) - max(a0, b0)


def words(text: str) -> int:
    return len(normalize(text).split())


def score_stream(plan: StreamPlan, arrivals: list[Arrival], origin_ns: int, speed: float,
                 ready_ns: int | None = None, due: Callable[[float], float] | None = None) -> StreamScore:
    """Match the received finals and partials to the plan's utterances and score them. ``due(t)``,
    where given, is when stream second ``t`` was really played (a microphone run's playback clock)."""

    def due_ns(t: float) -> float:
        return due(t) if due is not None else origin_ns + t / speed * 1e9

    utts = [UtteranceScore(i, span) for i, span in enumerate(plan.utterances)]
    finals = [FinalScore(a) for a in sorted((a for a in arrivals if a.final), key=lambda a: a.recv_ns)]
    for k, f in enumerate(finals):
        a = f.arrival
        if not a.text.strip():
            f.kind = "retracted"
            continue
        f.words = words(a.text)
        for u in utts:
            if _overlap(a.start_s, a.end_s, u.span.start, u.span.end) >= MIN_OVERLAP_S:
                f.utterances.append(u.index)
                u.finals.append(k)
        if f.utterances:
            if len(f.utterances) > 1:
                for i in f.utterances:
                    utts[i].merged = True
            continue
        noise = [n for n in plan.noise if _overlap(a.start_s, a.end_s, n.start, n.end) > 0]
        f.kind, f.label = ("noise", noise[0].label) if noise else ("nonspeech", "")

    errors = ref_words = 0
    for group in _groups(utts, finals):
        ref = " ".join(utts[i].span.text for i in group[0])
        hyp = " ".join(finals[k].arrival.text for k in sorted(group[1], key=lambda k: finals[k].arrival.start_s))
        e, n = word_errors(ref, hyp)
        errors, ref_words = errors + e, ref_words + n
        for i in group[0]:
            utts[i].hyp = hyp

    partial_like = sorted((a for a in arrivals if a.text.strip()), key=lambda a: a.recv_ns)
    for u in utts:
        u.before_ready = ready_ns is not None and due_ns(u.span.end) < ready_ns
        if u.finals:
            last = max((finals[k].arrival for k in u.finals), key=lambda a: a.end_s)
            u.final_latency_ms = (last.recv_ns - due_ns(u.span.end)) / 1e6
        first = next((a for a in partial_like
                      if _overlap(a.start_s, a.end_s, u.span.start, u.span.end) >= MIN_OVERLAP_S), None)
        if first is not None:
            u.first_partial_ms = (first.recv_ns - due_ns(u.span.start)) / 1e6
    score = StreamScore(utts, finals, errors, ref_words)
    score.breakdown = _breakdown(utts, finals, due_ns)
    return score


def _groups(utts: list[UtteranceScore], finals: list[FinalScore]) -> list[tuple[list[int], list[int]]]:
    """Connected groups of utterances and the finals that cover them, in stream order."""
    groups: list[tuple[list[int], list[int]]] = []
    seen_u: set[int] = set()
    for u in utts:
        if u.index in seen_u:
            continue
        g_u, g_f, todo = [], set(), [u.index]
        while todo:
            i = todo.pop()
            if i in seen_u:
                continue
            seen_u.add(i)
            g_u.append(i)
            for k in utts[i].finals:
                if k not in g_f:
                    g_f.add(k)
                    todo.extend(finals[k].utterances)
        groups.append((sorted(g_u), sorted(g_f)))
    return groups


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _breakdown(utts: list[UtteranceScore], finals: list[FinalScore], due_ns) -> dict[str, Any]:
    """Where the final latency goes (medians, wall ms), from the closing final's timings: how far
    the daemon's end of speech lies from the true end, true end -> the daemon's endpoint (the
    worker handling the end: hangover wait, plus any decode it had to finish first, the early
    final decode included), endpoint -> received (a late decode, publishing, transport), and the
    daemon's own view (its speech end -> its publish time). The final decode's own budget: true end
    -> its start (VAD end offset, ``early_ms``, any partial decode it waited behind), its length,
    and its end -> the endpoint (the rest of the hangover, or the text endpointing round trip)."""
    vad, endpoint, after, daemon, infer, early = [], [], [], [], [], []
    start, waited, sentence = [], [], []
    for u in utts:
        if not u.finals or u.before_ready:
            continue
        a = max((finals[k].arrival for k in u.finals), key=lambda a: a.end_s)
        t = a.timings
        if isinstance(t.get("speech_end_mono_ns"), int):
            vad.append((t["speech_end_mono_ns"] - due_ns(u.span.end)) / 1e6)
            if a.sent_ns:
                daemon.append((a.sent_ns - t["speech_end_mono_ns"]) / 1e6)
        if isinstance(t.get("endpoint_mono_ns"), int):
            endpoint.append((t["endpoint_mono_ns"] - due_ns(u.span.end)) / 1e6)
            after.append((a.recv_ns - t["endpoint_mono_ns"]) / 1e6)
        if isinstance(t.get("inference_ms"), (int, float)):
            infer.append(float(t["inference_ms"]))
        if "early_decode" in t:
            early.append(bool(t["early_decode"]))
        if isinstance(t.get("decode_start_mono_ns"), int):
            start.append((t["decode_start_mono_ns"] - due_ns(u.span.end)) / 1e6)
            if isinstance(t.get("endpoint_mono_ns"), int) and isinstance(t.get("inference_ms"), (int, float)):
                waited.append((t["endpoint_mono_ns"] - t["decode_start_mono_ns"]) / 1e6 - t["inference_ms"])
        if "end_reason" in t:
            sentence.append(t["end_reason"] == "sentence")
    return {"true_end_to_decode_start_ms_p50": _p50(start), "decode_end_to_endpoint_ms_p50": _p50(waited),
            "sentence_end_share": round(sum(sentence) / len(sentence), 3) if sentence else None,
            "vad_end_offset_ms_p50": _p50(vad), "true_end_to_endpoint_ms_p50": _p50(endpoint),
            "endpoint_to_received_ms_p50": _p50(after), "inference_ms_p50": _p50(infer),
            "daemon_reported_ms_p50": _p50(daemon),
            "early_decode_share": round(sum(early) / len(early), 3) if early else None}

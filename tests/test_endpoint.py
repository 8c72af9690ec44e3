"""Text-aware endpointing: the sentence rule, the segmenter's side (energy VAD, exact frames) and the
worker's side (scripted backend). The real model on the corpus session is in test_endpoint_e2e.py."""

from __future__ import annotations

import time

import numpy as np
import pytest

from stenod.daemon.endpoint import SentenceEnd, SentenceRule
from stenod.daemon.inbox import EndOfStream
from stenod.daemon.segment import Segmenter, UttAudio, UttEnd, UttResumed, UttStart, UttTentativeEnd, VadConfig
from stenod.protocol import Final
from stenod.types import Transcript
from test_segment import SR, F, energy_vad, signal
from test_worker import Run, ScriptedBackend, audio, of

SURE, UNSURE = -0.05, -1.5

# ------------------------------------------------------------------------------- the rule


def t(text: str, *tail: float) -> Transcript:
    return Transcript(text=text, tokens=tuple(range(len(tail) + 3)), token_logprobs=(-0.1, -0.1, -0.1, *tail))


@pytest.mark.parametrize("text", ["Turn left at the bridge.", "Is it raining?", "Stop!", ' He said "go."'])
def test_confident_terminal_punctuation_ends_a_sentence(text):
    assert SentenceRule().ends_sentence(t(text, SURE, SURE))


@pytest.mark.parametrize("text,why", [
    ("Turn left at the bridge", "no terminal mark"),
    ("Turn left at the bridge,", "a comma"),
    ("Turn left and.", "a trailing conjunction"),
    ("Put it on the.", "a trailing article"),
    ("We walked towards.", "a trailing preposition"),
    ("Ask Mr.", "an abbreviation"),
    ("Well...", "an ellipsis"),
])
def test_open_endings_do_not_end_a_sentence(text, why):
    assert not SentenceRule().ends_sentence(t(text, SURE, SURE)), why


def test_an_unsure_closing_mark_or_last_word_does_not_end_a_sentence():
    rule = SentenceRule(min_logprob=-0.4)
    assert not rule.ends_sentence(t("Turn left at the bridge.", SURE, UNSURE))  # the full stop
    assert not rule.ends_sentence(t("Turn left at the bridge.", UNSURE, SURE))  # the word before it
    assert not rule.ends_sentence(Transcript(text="Bridge."))  # no token log-probabilities at all
    assert SentenceRule(min_logprob=-2.0).ends_sentence(t("Turn left at the bridge.", SURE, UNSURE))


def test_no_speech_has_nothing_to_wait_for():
    assert SentenceRule().ends_sentence(Transcript(text="", guard="no_speech_prob 0.9"))


def test_rule_settings_are_checked():
    with pytest.raises(ValueError, match="min_logprob"):
        SentenceRule(min_logprob=0.5)
    with pytest.raises(ValueError, match="tail_tokens"):
        SentenceRule(tail_tokens=0)
    with pytest.raises(ValueError, match="open_hangover_ms"):
        VadConfig(hangover_ms=360, open_hangover_ms=200)
    with pytest.raises(ValueError, match="sentence_min_ms"):
        VadConfig(open_hangover_ms=800, sentence_min_ms=800)
    with pytest.raises(ValueError, match="sentence_logprob"):
        VadConfig(sentence_logprob=1.0)
    with pytest.raises(ValueError, match="text_endpoint"):
        VadConfig(text_endpoint="yes")

# -------------------------------------------------------------------------- the segmenter

CFG = VadConfig(hangover_ms=300, early_ms=120, resume_ms=30, open_hangover_ms=900,  # 10, 4, 1, 30 frames
                sentence_min_ms=150)  # 5 frames


def feed_frames(s: Segmenter, x: np.ndarray, at: int) -> list:
    """Feed `x` from stream index `at` one frame at a time."""
    events = []
    for i in range(0, len(x), F):
        events += s.feed(at + i, x[i:i + F])
    return events


def audio_of(events, utt: int) -> tuple[int, np.ndarray]:
    chunks = [e for e in events if isinstance(e, UttAudio) and e.utt == utt]
    return chunks[0].start, np.concatenate([c.samples for c in chunks])


def test_a_sentence_verdict_ends_the_utterance_before_the_hangover_and_the_next_starts_as_usual():
    s = Segmenter(CFG, SR, vad=energy_vad, verdicts=True)
    first = signal(("sil", 10), ("tone", 30), ("sil", 6))
    events = feed_frames(s, first, 0)
    tentative = of(events, UttTentativeEnd)
    assert tentative == [UttTentativeEnd(1, 40 * F)] and not of(events, UttEnd)
    events += s.sentence_end(SentenceEnd(1, 40 * F))  # 6 frames (180 ms) into the pause: before the hangover
    assert of(events, UttEnd) == [UttEnd(1, 40 * F, "sentence")] and not s.active
    assert s.sentence_end(SentenceEnd(1, 40 * F)) == []  # a repeated verdict does nothing
    rest = signal(("sil", 4), ("tone", 20), ("sil", 31))
    events += feed_frames(s, rest, len(first))
    x = np.concatenate([first, rest])
    starts = of(events, UttStart)
    assert [e.utt for e in starts] == [1, 2]
    assert starts[1].start >= 40 * F  # the pre-roll never reaches into the ended utterance
    for u, ev in ((1, of(events, UttEnd)[0]), (2, of(events, UttEnd)[1])):
        start, pcm = audio_of(events, u)
        assert start == starts[u - 1].start and np.array_equal(pcm, x[start:ev.end]), u  # nothing lost or doubled
    assert of(events, UttEnd)[1] == UttEnd(2, (len(first) + 24 * F), "silence")


WAITING = VadConfig(hangover_ms=300, early_ms=120, resume_ms=30, open_hangover_ms=900, sentence_min_ms=300)


def test_a_verdict_before_sentence_min_ms_ends_the_utterance_when_the_pause_is_that_long():
    s = Segmenter(WAITING, SR, vad=energy_vad, verdicts=True)
    events = feed_frames(s, signal(("sil", 10), ("tone", 30), ("sil", 5)), 0)
    assert of(events, UttTentativeEnd) == [UttTentativeEnd(1, 40 * F)]
    assert s.sentence_end(SentenceEnd(1, 40 * F)) == [] and s.active  # 150 ms into the pause: too soon
    events += feed_frames(s, signal(("sil", 4)), 45 * F)
    assert not of(events, UttEnd) and s.active  # 270 ms
    events += feed_frames(s, signal(("sil", 1)), 49 * F)
    assert of(events, UttEnd) == [UttEnd(1, 40 * F, "sentence")]  # 300 ms: the verdict takes effect


def test_speech_resumed_before_sentence_min_ms_cancels_the_verdict():
    s = Segmenter(WAITING, SR, vad=energy_vad, verdicts=True)
    events = feed_frames(s, signal(("sil", 10), ("tone", 30), ("sil", 8)), 0)  # a 240 ms pause inside it
    assert s.sentence_end(SentenceEnd(1, 40 * F)) == []
    events += feed_frames(s, signal(("tone", 20), ("sil", 31)), 48 * F)
    assert [e.utt for e in of(events, UttStart)] == [1] and of(events, UttResumed) == [UttResumed(1)]
    # the verdict was on the first pause: the last one, without its own, lasts open_hangover_ms
    assert of(events, UttEnd) == [UttEnd(1, 68 * F, "silence")]


def test_without_a_verdict_a_pause_longer_than_the_hangover_stays_inside_the_utterance():
    s = Segmenter(CFG, SR, vad=energy_vad, verdicts=True)
    x = signal(("sil", 10), ("tone", 30), ("sil", 20), ("tone", 20), ("sil", 30))  # a 600 ms pause
    events = feed_frames(s, x, 0)
    assert [e.utt for e in of(events, UttStart)] == [1]
    assert of(events, UttResumed) == [UttResumed(1)]
    end = of(events, UttEnd)
    assert end == [UttEnd(1, 80 * F, "silence")]  # after open_hangover_ms (30 frames) of the last pause


def test_a_verdict_that_comes_after_speech_resumed_is_ignored():
    s = Segmenter(CFG, SR, vad=energy_vad, verdicts=True)
    events = feed_frames(s, signal(("sil", 10), ("tone", 30), ("sil", 5), ("tone", 5)), 0)
    assert of(events, UttResumed) == [UttResumed(1)]
    assert s.sentence_end(SentenceEnd(1, 40 * F)) == [] and s.active
    assert s.sentence_end(SentenceEnd(0, 40 * F)) == []  # nor one for another utterance


@pytest.mark.parametrize("cfg,verdicts", [(CFG, False), (VadConfig(hangover_ms=300, early_ms=120, resume_ms=30,
                                                                   text_endpoint=False), True)])
def test_with_endpointing_off_the_hangover_alone_ends_utterances(cfg, verdicts):
    s = Segmenter(cfg, SR, vad=energy_vad, verdicts=verdicts)
    events = feed_frames(s, signal(("sil", 10), ("tone", 30), ("sil", 6)), 0)
    assert s.sentence_end(SentenceEnd(1, 40 * F)) == [] and s.active
    events += feed_frames(s, signal(("sil", 10)), 46 * F)
    assert of(events, UttEnd) == [UttEnd(1, 40 * F, "silence")]  # hangover_ms: 10 frames of silence

# ------------------------------------------------------------------------------ the worker


class SentenceBackend(ScriptedBackend):
    """Always the same text, with the given log-probabilities for its last two tokens."""

    def __init__(self, text: str, tail: tuple[float, float]):
        super().__init__()
        self.fixed, self.tail = text, tail

    def _one(self, audio, cancel):
        if super()._one(audio, cancel) is None:
            return None
        return Transcript(text=self.fixed, tokens=(1, 2, 3), token_logprobs=(-0.1, *self.tail),
                          audio_s=len(audio) / SR)


def endpoint_run(backend: ScriptedBackend) -> Run:
    r = Run(backend)
    r.worker.endpoint = SentenceRule(min_logprob=-0.4)
    return r


def wait_verdicts(r: Run, timeout: float = 10) -> list[SentenceEnd]:
    end, got = time.monotonic() + timeout, []
    while not got and time.monotonic() < end:
        got = r.inbox.take_verdicts()
        time.sleep(0.01)
    return got


def test_the_worker_posts_a_verdict_when_the_early_decode_closes_a_sentence_and_the_final_reuses_it():
    backend = SentenceBackend(" Turn left at the bridge.", (SURE, SURE))
    r = endpoint_run(backend)
    r.worker.start()
    r.put(UttStart(1, 0), audio(1, 0, 0.6), UttTentativeEnd(1, int(0.6 * SR)))
    assert wait_verdicts(r) == [SentenceEnd(1, int(0.6 * SR))]
    r.put(UttEnd(1, int(0.6 * SR), "sentence"))
    finals = of(r.finish(), Final)
    assert [f.text for f in finals] == [" Turn left at the bridge."]
    assert finals[0].timings["end_reason"] == "sentence" and finals[0].timings["early_decode"] is True
    assert finals[0].timings["end_logprob"] == SURE
    assert len(backend.calls) == 1  # the early decode is the final's


@pytest.mark.parametrize("text,tail", [(" Turn left at the", (SURE, SURE)), (" Turn left at the bridge.", (SURE, UNSURE))])
def test_the_worker_posts_nothing_for_an_open_or_unsure_ending(text, tail):
    r = endpoint_run(SentenceBackend(text, tail))
    r.worker.start()
    r.put(UttStart(1, 0), audio(1, 0, 0.6), UttTentativeEnd(1, int(0.6 * SR)))
    r.wait(lambda evs: len(r.backend.calls) >= 1)
    r.put(UttEnd(1, int(0.6 * SR), "silence"))
    r.finish()
    assert r.inbox.take_verdicts() == []


def test_without_the_rule_the_worker_posts_nothing():
    r = Run(SentenceBackend(" Turn left at the bridge.", (SURE, SURE)))
    r.worker.start()
    r.put(UttStart(1, 0), audio(1, 0, 0.6), UttTentativeEnd(1, int(0.6 * SR)), UttEnd(1, int(0.6 * SR), "silence"))
    r.put(EndOfStream())
    assert r.done.wait(10)
    assert r.inbox.take_verdicts() == []


def test_a_long_pause_awaiting_a_verdict_keeps_its_audio_when_speech_resumes():
    cfg = VadConfig(hangover_ms=300, early_ms=120, resume_ms=30, open_hangover_ms=900, split_search_s=0.3,
                    max_utterance_s=20.0)  # a short split search: the history must still cover the pause
    s = Segmenter(cfg, SR, vad=energy_vad, verdicts=True)
    x = signal(("sil", 10), ("tone", 30), ("sil", 25), ("tone", 20), ("sil", 31))
    events = feed_frames(s, x, 0)
    start, pcm = audio_of(events, 1)
    assert of(events, UttEnd) == [UttEnd(1, 85 * F, "silence")]
    assert np.array_equal(pcm, x[start:85 * F])  # the 750 ms pause is forwarded whole

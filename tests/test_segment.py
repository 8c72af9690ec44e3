"""VAD segmenter on synthetic audio, with an energy-threshold VAD injected (exact expectations),
plus one wiring test with the real webrtcvad."""

from __future__ import annotations

import random

import numpy as np
import pytest

from stenod.daemon.segment import (
    Segmenter,
    UttAudio,
    UttEnd,
    UttResumed,
    UttStart,
    UttTentativeEnd,
    VadConfig,
)

SR = 16000
F = 480  # samples in a 30 ms frame


# The timing tests below were written for these settings; pinned so a change of defaults
# does not change what they check.
BASE = VadConfig(hangover_ms=300, early_ms=120, resume_ms=30)

def energy_vad(frame: bytes) -> bool:
    return float(np.abs(np.frombuffer(frame, dtype=np.int16)).mean()) > 500


def signal(*spec: tuple[str, int]) -> np.ndarray:
    """Concatenate ('tone'|'sil', n_frames) parts, in whole 30 ms frames."""
    parts = []
    for kind, n in spec:
        if kind == "tone":
            parts.append((3000 * np.sin(2 * np.pi * 220 * np.arange(n * F) / SR)).astype(np.int16))
        else:
            parts.append(np.zeros(n * F, np.int16))
    return np.concatenate(parts)


def seg(cfg: VadConfig | None = None) -> Segmenter:
    return Segmenter(cfg or BASE, SR, vad=energy_vad)


def run(x: np.ndarray, cfg: VadConfig | None = None, blocks: list[int] | None = None, start: int = 0, flush=False):
    s = seg(cfg)
    events = []
    if blocks is None:
        events += s.feed(start, x)
    else:
        pos = 0
        for n in blocks:
            events += s.feed(start + pos, x[pos : pos + n])
            pos += n
        assert pos == len(x)
    if flush:
        events += s.flush()
    return events


def normalise(events):
    """Merge adjacent audio chunks (their boundaries depend on block sizes) into one tuple."""
    out: list = []
    for e in events:
        if isinstance(e, UttAudio):
            if out and isinstance(out[-1], tuple) and out[-1][1] == e.utt and out[-1][3] == e.start:
                _, utt, st, _, arr = out[-1]
                out[-1] = ("audio", utt, st, e.end, np.concatenate([arr, e.samples]))
            else:
                out.append(("audio", e.utt, e.start, e.end, e.samples))
        else:
            out.append(e)
    return out


def shape(events):
    """Events with audio reduced to (utt, start, end) for readable assertions."""
    return [e[:4] if isinstance(e, tuple) else e for e in normalise(events)]


def utt_audio(events, utt: int) -> tuple[int, np.ndarray]:
    chunks = [e for e in events if isinstance(e, UttAudio) and e.utt == utt]
    for a, b in zip(chunks, chunks[1:]):
        assert a.end == b.start, "audio of an utterance must be contiguous"
    return chunks[0].start, np.concatenate([c.samples for c in chunks])


# --------------------------------------------------------------------------------- basics


def test_onset_preroll_tentative_and_hangover():
    x = signal(("sil", 20), ("tone", 20), ("sil", 20))
    ev = run(x)
    assert shape(ev) == [
        UttStart(1, 10 * F),  # 300 ms pre-roll before the first voiced frame
        ("audio", 1, 10 * F, 40 * F),  # exactly [start, end): trailing silence is held back
        UttTentativeEnd(1, 40 * F),  # after 4 silent frames (120 ms)
        UttEnd(1, 40 * F, "silence"),  # after 10 silent frames (300 ms)
    ]
    start, audio = utt_audio(ev, 1)
    np.testing.assert_array_equal(audio, x[start : 40 * F])


def test_event_order_in_time():
    s = seg()
    x = signal(("sil", 20), ("tone", 20), ("sil", 20))
    got = {}
    for i in range(60):
        for e in s.feed(i * F, x[i * F : (i + 1) * F]):
            got.setdefault(type(e).__name__, i)
    assert got == {"UttStart": 22, "UttAudio": 22, "UttTentativeEnd": 43, "UttEnd": 49}


def test_preroll_clamped_at_stream_start_and_absolute_positions():
    x = signal(("sil", 3), ("tone", 10), ("sil", 12))
    assert shape(run(x, start=7_000)) == [
        UttStart(1, 7_000),
        ("audio", 1, 7_000, 7_000 + 13 * F),
        UttTentativeEnd(1, 7_000 + 13 * F),
        UttEnd(1, 7_000 + 13 * F, "silence"),
    ]


def test_preroll_zero_and_onset_rounding():
    cfg = VadConfig(preroll_ms=0, onset_ms=40, hangover_ms=300, early_ms=120, resume_ms=30)  # 40 ms rounds up to 2 frames
    ev = run(signal(("sil", 5), ("tone", 1), ("sil", 2), ("tone", 2), ("sil", 12)), cfg)
    assert ev[0] == UttStart(1, 8 * F)


def test_short_blips_do_not_start_an_utterance():
    x = signal(("sil", 5), ("tone", 2), ("sil", 3), ("tone", 1), ("sil", 20))
    s = seg()
    assert s.feed(0, x) == [] and s.flush() == []
    assert (s.frames, s.voiced_frames) == (31, 3)


def test_preroll_includes_earlier_blip():
    x = signal(("sil", 10), ("tone", 1), ("sil", 3), ("tone", 10), ("sil", 12))
    ev = run(x)
    assert ev[0] == UttStart(1, 4 * F)
    _, audio = utt_audio(ev, 1)
    np.testing.assert_array_equal(audio, x[4 * F : 24 * F])


def test_tentative_end_then_resume():
    x = signal(("sil", 10), ("tone", 10), ("sil", 6), ("tone", 8), ("sil", 12))
    ev = run(x)
    assert shape(ev) == [
        UttStart(1, 0),
        ("audio", 1, 0, 20 * F),
        UttTentativeEnd(1, 20 * F),
        UttResumed(1),
        ("audio", 1, 20 * F, 34 * F),  # the held pause, then the new speech
        UttTentativeEnd(1, 34 * F),
        UttEnd(1, 34 * F, "silence"),
    ]
    _, audio = utt_audio(ev, 1)
    np.testing.assert_array_equal(audio, x[: 34 * F])


def test_short_pause_gives_no_tentative_end():
    ev = run(signal(("sil", 10), ("tone", 5), ("sil", 3), ("tone", 5), ("sil", 12)))
    assert [type(e) for e in normalise(ev)] == [UttStart, tuple, UttTentativeEnd, UttEnd]
    assert ev[-1] == UttEnd(1, 23 * F, "silence")


def test_early_zero_disables_tentative_end():
    ev = run(signal(("sil", 10), ("tone", 5), ("sil", 12)), VadConfig(early_ms=0, hangover_ms=300, resume_ms=30))
    assert not any(isinstance(e, (UttTentativeEnd, UttResumed)) for e in ev)
    assert ev[-1] == UttEnd(1, 15 * F, "silence")


def test_consecutive_utterances_number_up_and_preroll_stops_at_previous_end():
    cfg = VadConfig(preroll_ms=600, hangover_ms=150, early_ms=60)  # pre-roll longer than hangover
    x = signal(("sil", 30), ("tone", 5), ("sil", 8), ("tone", 5), ("sil", 10))
    ev = run(x, cfg)
    starts = [e for e in ev if isinstance(e, UttStart)]
    ends = [e for e in ev if isinstance(e, UttEnd)]
    assert starts == [UttStart(1, 10 * F), UttStart(2, 35 * F)]
    assert ends == [UttEnd(1, 35 * F, "silence"), UttEnd(2, 48 * F, "silence")]


# ------------------------------------------------------------------------------ max length

SPLIT = VadConfig(max_utterance_s=3.0, split_search_s=1.0, hangover_ms=300, early_ms=120, resume_ms=30)  # 100 frames; search the last 33


def test_max_length_splits_at_longest_pause_without_loss_or_duplication():
    x = signal(("sil", 10), ("tone", 60), ("sil", 2), ("tone", 13), ("sil", 3), ("tone", 32), ("sil", 20))
    ev = run(x, SPLIT)
    assert shape(ev) == [
        UttStart(1, 0),
        ("audio", 1, 0, 100 * F),
        UttEnd(1, 85 * F, "max_length"),  # start of the 3-frame pause, not the 2-frame one
        UttStart(2, 85 * F),
        ("audio", 2, 85 * F, 120 * F),
        UttTentativeEnd(2, 120 * F),
        UttEnd(2, 120 * F, "silence"),
    ]
    s1, a1 = utt_audio(ev, 1)
    s2, a2 = utt_audio(ev, 2)
    a1 = a1[: 85 * F - s1]  # consumers trim to [start, end)
    np.testing.assert_array_equal(np.concatenate([a1, a2]), x[: 120 * F])


def test_max_length_ties_prefer_the_latest_pause():
    x = signal(("sil", 10), ("tone", 60), ("sil", 3), ("tone", 12), ("sil", 3), ("tone", 32), ("sil", 20))
    ends = [e for e in run(x, SPLIT) if isinstance(e, UttEnd)]
    assert ends[0] == UttEnd(1, 85 * F, "max_length")


def test_max_length_hard_cut_without_pause():
    x = signal(("sil", 10), ("tone", 150), ("sil", 20))
    ev = run(x, SPLIT)
    assert [e for e in ev if not isinstance(e, UttAudio)] == [
        UttStart(1, 0),
        UttEnd(1, 100 * F, "max_length"),
        UttStart(2, 100 * F),
        UttTentativeEnd(2, 160 * F),
        UttEnd(2, 160 * F, "silence"),
    ]
    s1, a1 = utt_audio(ev, 1)
    s2, a2 = utt_audio(ev, 2)
    assert (s1, len(a1), s2, len(a2)) == (0, 100 * F, 100 * F, 60 * F)


def test_max_length_at_trailing_pause_goes_idle():
    x = signal(("sil", 10), ("tone", 85), ("sil", 7), ("tone", 30), ("sil", 20))
    ev = run(x, SPLIT)
    assert [e for e in ev if not isinstance(e, UttAudio)] == [
        UttStart(1, 0),
        UttTentativeEnd(1, 95 * F),
        UttEnd(1, 95 * F, "max_length"),
        UttStart(2, 95 * F),  # pre-roll reaches back to, but not past, the previous end
        UttTentativeEnd(2, 132 * F),
        UttEnd(2, 132 * F, "silence"),
    ]


def test_split_carries_trailing_silence_into_next_utterance():
    # Longest pause earlier in the window; at the split point the speaker is 4 frames into a pause
    # (a tentative end for utt 1 was announced), so utt 2 starts with a tentative end of its own.
    x = signal(("sil", 10), ("tone", 65), ("sil", 6), ("tone", 15), ("sil", 14))
    ev = run(x, SPLIT)
    assert [e for e in ev if not isinstance(e, UttAudio)] == [
        UttStart(1, 0),
        UttTentativeEnd(1, 75 * F),
        UttResumed(1),
        UttTentativeEnd(1, 96 * F),
        UttEnd(1, 75 * F, "max_length"),
        UttStart(2, 75 * F),
        UttTentativeEnd(2, 96 * F),
        UttEnd(2, 96 * F, "silence"),
    ]
    s2, a2 = utt_audio(ev, 2)
    assert (s2, s2 + len(a2)) == (75 * F, 96 * F)


# ------------------------------------------------------------------------- streaming shape

COMPLEX = signal(
    ("sil", 12), ("tone", 20), ("sil", 6), ("tone", 8), ("sil", 15), ("tone", 1), ("sil", 4),
    ("tone", 60), ("sil", 2), ("tone", 13), ("sil", 3), ("tone", 40), ("sil", 11), ("tone", 7),
)  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_block_sizes_do_not_change_events(seed):
    rng = random.Random(seed)
    blocks = []
    left = len(COMPLEX)
    while left:
        n = min(left, rng.choice([1, 7, 160, 479, 480, 481, 1000, 4096, rng.randint(0, 3000)]))
        blocks.append(n)
        left -= n
    one = normalise(run(COMPLEX, SPLIT, flush=True))
    many = normalise(run(COMPLEX, SPLIT, blocks=blocks, flush=True))
    assert len(one) == len(many)
    for a, b in zip(one, many):
        if isinstance(a, tuple):
            assert a[:4] == b[:4]
            np.testing.assert_array_equal(a[4], b[4])
        else:
            assert a == b
    assert sum(isinstance(e, UttStart) for e in one) == 4


def test_flush_ends_open_utterance():
    x = signal(("sil", 10), ("tone", 10), ("sil", 2))
    s = seg()
    ev = s.feed(0, x)
    assert s.active and not any(isinstance(e, UttEnd) for e in ev)
    assert s.flush() == [UttEnd(1, 20 * F, "flush")]
    assert not s.active and s.flush() == []
    ev = s.feed(len(x), signal(("tone", 5), ("sil", 12)))  # the stream may go on
    assert ev[0] == UttStart(2, 20 * F)


def test_partial_frame_is_kept_across_flush():
    s = seg()
    s.feed(0, np.zeros(F + 100, np.int16))
    s.flush()
    s.feed(F + 100, np.zeros(F - 100, np.int16))
    assert s.frames == 2


def test_gap_ends_utterance_and_reframes():
    s = seg()
    x = signal(("sil", 10), ("tone", 10))
    s.feed(0, x[:-5])  # leaves a partial frame pending
    ev = s.feed(10**6, signal(("tone", 5), ("sil", 12)))
    assert ev[0] == UttEnd(1, 19 * F, "gap")
    assert ev[1] == UttStart(2, 10**6)
    assert ev[-1] == UttEnd(2, 10**6 + 5 * F, "silence")
    with pytest.raises(ValueError, match="overlaps"):
        s.feed(0, x)


def test_input_validation():
    with pytest.raises(ValueError, match="int16"):
        seg().feed(0, np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="sample_rate"):
        Segmenter(VadConfig(), 11025, vad=energy_vad)
    with pytest.raises(ValueError, match="webrtcvad"):
        Segmenter(VadConfig(frame_ms=20), 44100)
    Segmenter(VadConfig(), 8000, vad=energy_vad)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"aggressiveness": 4}, "aggressiveness"),
        ({"aggressiveness": True}, "aggressiveness"),
        ({"frame_ms": 25}, "frame_ms"),
        ({"onset_ms": 0}, "onset_ms"),
        ({"hangover_ms": "300"}, "hangover_ms"),
        ({"preroll_ms": -1}, "preroll_ms"),
        ({"early_ms": 360}, "early_ms"),
        ({"max_utterance_s": 0}, "max_utterance_s"),
        ({"max_utterance_s": float("inf")}, "max_utterance_s"),
        ({"split_search_s": 25.0}, "split_search_s"),
        ({"max_utterance_s": 0.4, "split_search_s": 0.1}, "max_utterance_s"),
        ({"snr_db": -1}, "snr_db"),
        ({"floor_window_s": 0}, "floor_window_s"),
        ({"neural": 1}, "neural"),
        ({"neural_threshold": 1.0}, "neural_threshold"),
    ],
)
def test_vad_config_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        VadConfig(**kwargs)


# -------------------------------------------------------------------------------- webrtcvad


def test_real_webrtcvad_on_a_voice_like_burst():
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    # 140 Hz glottal-like pulse train through a crude formant mix, between stretches of faint noise.
    burst = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 25)) * 4000
    burst = np.clip(burst, -32000, 32000).astype(np.int16)
    quiet = rng.normal(0, 3, SR).astype(np.int16)
    x = np.concatenate([quiet, burst, quiet])
    s = Segmenter(VadConfig(aggressiveness=2), SR)
    ev = s.feed(0, x) + s.flush()
    starts = [e for e in ev if isinstance(e, UttStart)]
    ends = [e for e in ev if isinstance(e, UttEnd)]
    assert len(starts) == 1 and len(ends) == 1
    assert SR - 300 * 16 - 3 * F <= starts[0].start <= SR - 300 * 16 + 3 * F  # pre-roll before onset
    # webrtcvad smooths its own decisions, so it reports a few frames of speech after the burst.
    assert 2 * SR - F <= ends[0].end <= 2 * SR + 8 * F and ends[0].reason == "silence"
    assert s.voiced_frames > 25


@pytest.mark.parametrize("seed", range(20))
def test_random_streams_keep_the_invariants(seed):
    """Random speech/pause patterns, random block sizes: utterances are numbered in order, never
    overlap, carry exactly their own audio, respect the max length, and cover all real speech."""
    rng = random.Random(seed)
    spec = []
    for _ in range(rng.randint(5, 40)):
        spec.append(("tone", rng.choice([1, 2, 3, 5, 20, 70])))
        spec.append(("sil", rng.choice([1, 2, 4, 6, 9, 10, 30])))
    x = signal(*spec)
    cfg = VadConfig(max_utterance_s=2.0, split_search_s=0.5, early_ms=rng.choice([0, 60, 120]))
    blocks, left = [], len(x)
    while left:
        blocks.append(min(left, rng.randint(1, 5000)))
        left -= blocks[-1]
    ev = run(x, cfg, blocks=blocks, flush=True)
    opened: dict[int, int] = {}
    prev_end = 0
    for e in ev:
        if isinstance(e, UttStart):
            assert e.utt == len(opened) + 1 and e.start >= prev_end
            opened[e.utt] = e.start
        elif isinstance(e, UttEnd):
            start = opened[e.utt]
            assert start <= e.end and e.end - start <= 2 * SR + F  # max length, rounded up to a frame
            if e.end > start:
                st, audio = utt_audio(ev, e.utt)
                assert st == start and len(audio) >= e.end - start
                np.testing.assert_array_equal(audio[: e.end - start], x[start : e.end])
            prev_end = e.end
    assert len(opened) == sum(isinstance(e, UttEnd) for e in ev)
    # Every frame of a voiced run at least the onset long lies inside some utterance.
    voiced = np.abs(x.reshape(-1, F)).mean(axis=1) > 500
    spans = [(opened[e.utt], e.end) for e in ev if isinstance(e, UttEnd)]
    run_from = None
    for k, v in enumerate([*voiced, False]):
        if v and run_from is None:
            run_from = k
        elif not v and run_from is not None:
            if k - run_from >= 3:
                for f in range(run_from, k):
                    assert any(s <= f * F and (f + 1) * F <= en for s, en in spans), f
            run_from = None


def test_short_blip_in_the_hangover_does_not_resume():
    """One voiced frame (a click) inside the hangover counts as silence; two frames resume."""
    cfg = VadConfig(hangover_ms=300, early_ms=120, resume_ms=60, preroll_ms=0)
    ev = run(signal(("sil", 10), ("tone", 10), ("sil", 4), ("tone", 1), ("sil", 12)), cfg)
    ends = [e for e in ev if isinstance(e, UttEnd)]
    assert len(ends) == 1 and ends[0].end == 20 * F
    assert ev[-1] is ends[0] and not any(isinstance(e, UttResumed) for e in ev)
    ev = run(signal(("sil", 10), ("tone", 10), ("sil", 4), ("tone", 2), ("sil", 12)), cfg)
    ends = [e for e in ev if isinstance(e, UttEnd)]
    assert len(ends) == 1 and ends[0].end == 26 * F
    assert any(isinstance(e, UttResumed) for e in ev)


def test_spectral_gate_rejects_white_noise_not_voice():
    from stenod.daemon.vad import spectral_flatness

    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(F) * 1000).astype(np.int16)
    t = np.arange(F) / SR
    voice = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20))  # a harmonic, voice-like buzz
    voice = (voice / np.abs(voice).max() * 8000).astype(np.int16)
    assert spectral_flatness(noise, SR) > 0.45
    assert spectral_flatness(voice, SR) < 0.2

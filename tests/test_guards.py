"""Decoding guards, unit level (the end-to-end check is in test_transcribe on real noise files)."""

from stenod.asr.guards import GuardConfig, compression_ratio, judge, token_cap, trim_repetition

CFG = GuardConfig()


def text_of(tokens):
    return " ".join(f"w{t}" for t in tokens)


def test_token_cap_grows_with_audio_and_is_bounded():
    assert token_cap(0.0, CFG) == CFG.min_tokens
    assert token_cap(2.0, CFG) == CFG.min_tokens + 16
    assert token_cap(1000.0, CFG) == CFG.max_tokens


def test_trailing_loop_is_cut_to_one_copy():
    assert trim_repetition([1, 2, 3, 4, 5, 4, 5, 4, 5, 4, 5]) == [1, 2, 3, 4, 5]
    assert trim_repetition([9, 7, 7, 7, 7]) == [9, 7]
    assert trim_repetition([1, 2, 1, 2, 3]) == [1, 2, 1, 2, 3]  # two copies are ordinary speech


def test_no_speech_probability_drops_text():
    v = judge([5, 6], no_speech_prob=0.9, avg_logprob=-0.3, hit_cap=False, decode=text_of, cfg=CFG)
    assert not v.keep and "no_speech" in v.reason


def test_weak_no_speech_with_low_confidence_drops_text():
    assert not judge([5], 0.3, -1.5, False, text_of, CFG).keep
    assert judge([5], 0.3, -0.2, False, text_of, CFG).keep
    assert judge([5], 0.05, -1.5, False, text_of, CFG).keep


def test_compression_ratio_catches_loops_that_survive_trimming():
    loop = "right, " * 40
    assert compression_ratio(loop) > CFG.compression_ratio_threshold
    v = judge(list(range(40)), 0.01, -0.2, True, lambda t: loop, CFG)
    assert not v.keep and "compression" in v.reason


def test_ordinary_speech_is_kept():
    v = judge([10, 11, 12], 0.02, -0.1, False, text_of, CFG)
    assert v.keep and v.tokens == [10, 11, 12] and v.reason is None

"""Greedy decoding with a draft: the same tokens as without one, fewer decoder passes; cancellation."""

from __future__ import annotations

import numpy as np
import pytest

from stenod.audio import load_audio
from stenod.types import DecodeCancelled


@pytest.fixture(scope="module")
def backend(bundled_model, stenod_env, monkeypatch_module):
    from stenod.asr.backend import load_backend

    monkeypatch_module.setenv("XDG_CACHE_HOME", stenod_env["XDG_CACHE_HOME"])
    return load_backend("bundled:tiny.en")


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_draft_gives_the_same_tokens(corpus, backend):
    for clip in corpus.clips[:5]:
        audio = load_audio(clip["path"])
        plain = backend.transcribe(audio)
        partial = backend.transcribe(audio[: int(len(audio) * 0.6)])  # what a live partial would have said
        wrong = list(reversed(plain.tokens))  # a draft that disagrees from the first token on
        for draft in (list(plain.tokens), list(partial.tokens), wrong, list(plain.tokens) + [220, 220]):
            t = backend.transcribe(audio, draft=draft)
            assert t.tokens == plain.tokens and t.text == plain.text, clip["id"]
            assert abs(t.no_speech_prob - plain.no_speech_prob) < 1e-4
            assert abs(t.avg_logprob - plain.avg_logprob) < 1e-3
        full = backend.transcribe(audio, draft=list(plain.tokens))
        assert full.stats.draft_accepted == len(plain.tokens)


def test_cancel_abandons_the_decode(corpus, backend):
    audio = load_audio(corpus.clips[0]["path"])
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(DecodeCancelled):
        backend.transcribe(audio, cancel=cancel)
    assert len(calls) == 4
    assert backend.transcribe(audio, cancel=lambda: False).text  # an untriggered cancel changes nothing
    with pytest.raises(DecodeCancelled):  # the encoder checks between its layers
        backend.transcribe(audio, cancel=lambda: True)
    assert backend.transcribe(audio).text  # and the backend is fine afterwards


def test_noise_stays_empty_with_a_draft(corpus, backend):
    for n in corpus.noise:
        audio = load_audio(n["path"])[: 16000 * 5]
        assert backend.transcribe(audio, draft=[314, 481, 307]).text == ""
    assert np.isfinite(backend.transcribe(np.zeros(16000, np.float32)).no_speech_prob)


def test_cross_attention_reused_from_the_no_speech_pass_changes_nothing(corpus, backend):
    """With a prompt, P(no speech) is read in a pass of its own whose cross-attention keys and
    values the greedy decode reuses: the same tokens and log-probabilities as computing them anew."""
    import torch
    from dataclasses import replace
    from transformers.cache_utils import DynamicCache

    from stenod.asr.greedy import greedy_decode

    prompt = backend.encode_prompt([], corpus.clips[0]["text"], 96)
    context = [backend.prompt_start, *prompt]
    vocab = replace(backend.vocab, prefix=context + backend.prefix)
    for clip in corpus.clips[1:4]:
        with torch.inference_mode():
            enc = backend.encode(backend.features(load_audio(clip["path"])))
            fresh = greedy_decode(backend.model, enc, vocab, [], 100, backend.cache_kw, sot_index=len(context))
            cross = DynamicCache()
            nsp = backend.no_speech(enc, cross)[0]
            assert cross.get_seq_length() == enc.shape[1]  # the pass kept them
            shared = greedy_decode(backend.model, enc, vocab, [], 100, backend.cache_kw, sot_index=len(context),
                                   cross=cross)
            assert abs(nsp - backend.no_speech(enc)[0]) < 1e-6
        assert shared.tokens == fresh.tokens and fresh.tokens, clip["id"]
        assert np.allclose(shared.logprobs, fresh.logprobs, atol=1e-5)
        t = backend.transcribe(load_audio(clip["path"]), prompt=prompt)
        assert list(t.tokens) == fresh.tokens and abs(t.no_speech_prob - nsp) < 1e-6

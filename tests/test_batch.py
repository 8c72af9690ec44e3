"""Batched decoding (`WhisperBackend.transcribe_batch`): the real bundled model on corpus audio gives
the same text, tokens and guard decisions batched as one by one, with per-request prompts, forced
prefixes, token caps, cancellation and fallbacks (beam search) mixed in one batch."""

from __future__ import annotations

import numpy as np
import pytest

from stenod.asr.backend import BackendOptions, load_backend
from stenod.audio import load_audio
from stenod.types import DecodeRequest


@pytest.fixture(scope="module")
def backend(bundled_model):
    return load_backend(str(bundled_model), BackendOptions(device="cpu"))


@pytest.fixture(scope="module")
def clips(corpus):
    return [load_audio(c["path"]) for c in corpus.clips[1::7]]  # six clips, the three voices


def _same(a, b):
    assert a is not None and b is not None
    assert (a.text, a.tokens, a.guard) == (b.text, b.tokens, b.guard)
    assert a.no_speech_prob == pytest.approx(b.no_speech_prob, abs=1e-3)
    assert a.avg_logprob == pytest.approx(b.avg_logprob, abs=1e-3)


def test_batched_text_equals_one_by_one_on_the_corpus(backend, corpus, clips):
    noise = [load_audio(n["path"])[: 16000 * 6] for n in corpus.noise[:2]]
    audio = clips + noise
    one = [backend.transcribe(a) for a in audio]
    batch = backend.transcribe_batch([DecodeRequest(a) for a in audio])
    for a, b in zip(one, batch):
        _same(a, b)
        assert b.stats.batch_size == len(audio)
    assert all(t.text for t in batch[:len(clips)])
    assert not any(t.text for t in batch[len(clips):])  # the guards drop noise in a batch too
    refs = [c["text"] for c in corpus.clips[1::7]]
    assert sum(r.lower().split()[0] in t.text.lower() for r, t in zip(refs, batch)) >= 4  # real words


def test_prompts_prefixes_and_beams_per_request(backend, clips):
    vocab = tuple(backend.encode_prompt(("Kubernetes", "Nguyen"), "", 32))
    context = tuple(backend.encode_prompt((), "The meeting starts at noon. Please be on time.", 32))
    assert len(vocab) != len(context)  # two prefix lengths: two groups in the batch
    forced = backend.transcribe(clips[3]).tokens[:2]
    requests = [DecodeRequest(clips[0], prompt=vocab), DecodeRequest(clips[1]),
                DecodeRequest(clips[2], prompt=context), DecodeRequest(clips[3], prefix=forced),
                DecodeRequest(clips[4], prompt=vocab), DecodeRequest(clips[5][: 16000], beams=3)]
    batch = backend.transcribe_batch(requests)
    for r, b in zip(requests, batch):
        one = backend.transcribe(r.audio, list(r.prefix), prompt=list(r.prompt), beams=r.beams)
        _same(one, b)
    assert batch[3].tokens[:2] == forced
    assert [t.stats.batch_size for t in batch] == [5, 5, 5, 5, 5, 1]  # beam search: one by one


def test_token_cap_and_cancellation_in_a_batch(backend, clips):
    short = clips[0][: 16000 // 2]  # half a second of a long sentence: a low token cap
    calls = []

    def cancel_second():
        calls.append(1)
        return len(calls) > 3  # after the encoder and a few decoder steps

    requests = [DecodeRequest(short), DecodeRequest(clips[1], cancel=cancel_second), DecodeRequest(clips[2])]
    batch = backend.transcribe_batch(requests)
    assert batch[1] is None  # cancelled; the others decoded to the end
    _same(batch[0], backend.transcribe(short))
    _same(batch[2], backend.transcribe(clips[2]))
    everyone = backend.transcribe_batch([DecodeRequest(c, cancel=lambda: True) for c in clips[:2]])
    assert everyone == [None, None]
    with pytest.raises(ValueError, match="at most 30 s"):
        backend.transcribe_batch([DecodeRequest(np.zeros(16000 * 31, np.float32)), DecodeRequest(short)])

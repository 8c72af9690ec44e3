"""Accuracy levers of the final decode: beam search, the session's previous text as Whisper's
prompt, a user vocabulary. Real model (bundled tiny.en), real corpus audio, the real daemon."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import synthesize
from daemon_helpers import run_to_end
from model_fixtures import bundled_model, stenod_env  # noqa: F401
from stenod.asr.backend import BackendOptions, load_backend
from stenod.bench.corpus import load_corpus, write_subset
from stenod.config import DecodeConfig
from stenod.daemon.context import PromptContext

NAMES = ["Please forward the Kubernetes report to Doctor Nguyen.",
         "Ask Siobhan to book the flight to Reykjavik on Friday."]
VOCABULARY = ("Kubernetes", "Nguyen", "Siobhan", "Reykjavik")


@pytest.fixture(scope="module")
def backend(bundled_model):  # noqa: F811
    return load_backend(str(bundled_model), BackendOptions(device="cpu"))


def pcm(path) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="float32")
    assert rate == 16000
    return audio


def test_beam_finals_equal_offline_beam_decodes_with_the_same_prompt(corpus, stenod_env, bundled_model, backend,  # noqa: F811
                                                                     tmp_path):
    """The daemon's finals (beam 3, previous finals as prompt) are exactly what beam search with the
    same prompt gives offline on each final's audio span."""
    sub = write_subset(load_corpus(corpus.dir), tmp_path / "sub", clips=0, utterances=4, noise=[])
    wav = sub / "session.wav"
    events, _ = run_to_end(stenod_env, tmp_path, "--source", f"file:{wav}", "--speed", "0", "--exit-at-end",
                           "--final-beams", "3")
    finals = [e for e in events if e["type"] == "final"]
    assert len(finals) == 4 and all(f["text"] for f in finals)
    assert all(f["timings"]["beams"] == 3 for f in finals)
    assert finals[0]["timings"]["prompt_tokens"] == 0 and finals[1]["timings"]["prompt_tokens"] > 0

    audio = pcm(wav)
    context = PromptContext(reset_s=20.0)
    for f in finals:
        a, b = f["audio"]["start_ms"] * 16, f["audio"]["end_ms"] * 16
        prompt = backend.encode_prompt((), context.text_for(a), DecodeConfig().prompt_tokens)
        offline = backend.transcribe(audio[a:b], prompt=prompt or None, beams=3)
        assert f["text"] == offline.text
        assert f["timings"]["prompt_tokens"] == len(prompt)
        context.add(offline.text, b, guard=offline.guard, avg_logprob=offline.avg_logprob)


@pytest.fixture(scope="module")
def names_corpus(tmp_path_factory):
    return load_corpus(synthesize(NAMES, tmp_path_factory.mktemp("names"), "--voices", "fest_slt_hts",
                                  "--session-utterances", "1"))


def test_vocabulary_fixes_names_and_changes_nothing_else(names_corpus, corpus, backend):
    vocab = backend.encode_prompt(VOCABULARY, "", 96)
    for clip in names_corpus.clips:
        x = pcm(clip.path)
        plain, with_vocab = backend.transcribe(x).text, backend.transcribe(x, prompt=vocab).text
        named = [w for w in VOCABULARY if w in clip.text]
        assert not all(w in plain for w in named), plain  # the plain decode misspells a name ...
        assert all(w in with_vocab for w in named), with_vocab  # ... the vocabulary spells them all
    for clip in corpus.clips[:4]:  # sentences without those names decode exactly as before
        x = pcm(clip["path"])
        assert backend.transcribe(x, prompt=vocab).text == backend.transcribe(x).text


def test_a_prompt_does_not_make_noise_speak(corpus, backend):
    """With previous text (even text ending in Whisper's favourite hallucination) in the prompt,
    the guards still drop every noise file: they read P(no speech) without the prompt."""
    plain = {n["kind"]: backend.transcribe(pcm(n["path"])[: 16000 * 5]) for n in corpus.noise}
    for context, beams in ((corpus.session["utterances"][0]["text"], 1), ("Thank you. you", 3)):
        prompt = backend.encode_prompt(("Kubernetes",), context, 96)
        for noise in corpus.noise:
            t = backend.transcribe(pcm(noise["path"])[: 16000 * 5], prompt=prompt, beams=beams)
            assert t.text == "", (noise["kind"], context, beams, t.text)
            assert t.no_speech_prob == pytest.approx(plain[noise["kind"]].no_speech_prob, abs=1e-4)


def test_prompt_context_rules():
    ctx = PromptContext(reset_s=2.0, max_chars=30)
    assert ctx.text_for(0) == ""
    ctx.add("Hello there.", 16000, guard=None, avg_logprob=-0.2)
    assert ctx.text_for(16000 + 16000) == "Hello there."
    assert ctx.text_for(16000 + 3 * 16000) == ""  # a long pause starts a new context
    ctx.add("", 40000, guard="no_speech_prob 0.90", avg_logprob=-2.0)  # dropped: the context stands
    assert ctx.text_for(41000) == "Hello there."
    ctx.add("How are you doing this fine morning?", 50000, guard=None, avg_logprob=-0.3)
    assert ctx.text_for(51000) == "Hello there. How are you doing this fine morning?"[-30:]  # bounded
    ctx.add("right right right", 60000, guard="repetition trimmed", avg_logprob=-0.3)
    assert ctx.text_for(61000) == ""  # a trimmed loop never becomes the prompt
    ctx.add("Fine.", 70000, guard=None, avg_logprob=-0.1)
    ctx.add("mumble", 80000, guard=None, avg_logprob=-1.5)  # unsure text resets too
    assert ctx.text_for(81000) == ""


def test_encode_prompt_keeps_the_vocabulary_and_the_end_of_the_context(backend):
    ctx = " ".join(f"word{i}" for i in range(200))
    tokens = backend.encode_prompt(("Kubernetes",), ctx, 40)
    assert len(tokens) == 40
    text = backend.decode(tokens)
    assert text.startswith("Kubernetes.") and text.endswith("word199")
    assert backend.encode_prompt((), "", 96) == [] and backend.encode_prompt(("A",), "b", 0) == []

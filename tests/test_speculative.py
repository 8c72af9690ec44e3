"""Speculative decoding with real weights on CPU: the bundled tiny.en verifies drafts from
(a) tiny.en itself (every draft token is accepted) and (b) a 2-decoder-layer student derived from
it (first and last decoder layer, the Distil-Whisper initialisation), which the main model often
rejects. Both must give exactly the plain transcript after the guards."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from model_fixtures import STENOD
from stenod.asr.backend import BackendOptions, WhisperBackend, load_backend, pick_attention
from stenod.asr.guards import GuardConfig
from stenod.asr.resolve import ModelError, ModelRef
from stenod.audio import load_audio


def run_cli(args, env, **kw):
    return subprocess.run(STENOD + args, env=env, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def student_model(stenod_env, bundled_model) -> Path:
    out = run_cli(["models", "derive-student"], stenod_env)
    assert out.returncode == 0, out.stderr
    name, path = out.stdout.strip().split(": ", 1)
    assert name == "bundled:tiny.en"
    return Path(path)


def _ref(path: Path) -> ModelRef:
    return ModelRef("bundled:tiny.en", str(path), local=True)


@pytest.fixture(scope="module")
def backends(bundled_model, student_model):
    """Plain tiny.en, and tiny.en assisted by (a) tiny.en and (b) the student; loaded once."""
    spec = lambda a: BackendOptions(device="cpu", decoding="speculative", assistant=str(a))  # noqa: E731
    return {"plain": WhisperBackend(_ref(bundled_model), BackendOptions(device="cpu")),
            "a": WhisperBackend(_ref(bundled_model), spec(bundled_model)),
            "b": WhisperBackend(_ref(bundled_model), spec(student_model))}


@pytest.fixture(scope="module")
def audio(corpus):
    return {c["path"]: load_audio(c["path"]) for c in corpus.clips + corpus.noise}


@pytest.fixture(scope="module")
def corpus_results(backends, audio):
    """Every corpus clip and noise file through the three backends: {mode: {path: (Transcript, s)}}."""
    out = {}
    for mode, b in backends.items():
        out[mode] = {}
        for path, a in audio.items():
            t0 = time.perf_counter()
            out[mode][path] = (b.transcribe(a), time.perf_counter() - t0)
    return out


def _same(p, s):
    assert s.text == p.text  # byte-identical text
    assert s.tokens == p.tokens and s.guard == p.guard
    assert s.no_speech_prob == pytest.approx(p.no_speech_prob, abs=1e-4)
    assert s.avg_logprob == pytest.approx(p.avg_logprob, abs=1e-3)


@pytest.mark.parametrize("assistant", ["a", "b"])
def test_speculative_text_equals_plain_on_the_corpus(corpus, corpus_results, backends, assistant):
    plain, spec = corpus_results["plain"], corpus_results[assistant]
    for path in plain:
        _same(plain[path][0], spec[path][0])
    assert all(spec[c["path"]][0].text for c in corpus.clips)
    assert not any(spec[n["path"]][0].text for n in corpus.noise)  # the guards drop noise alike
    st = backends[assistant].status()
    proposed = sum(t.stats.assistant_proposed for t, _ in spec.values())
    accepted = sum(t.stats.assistant_accepted for t, _ in spec.values())
    assert (st.assistant_proposed, st.assistant_accepted) == (proposed, accepted)
    rate = accepted / proposed
    t_plain, t_spec = (sum(s for _, s in r.values()) for r in (plain, spec))
    print(f"assistant ({assistant}) {st.assistant_model}: accepted {accepted}/{proposed} "
          f"draft tokens = {rate:.1%} in {st.assistant_rounds} verifying passes; CPU time over "
          f"{len(plain)} files: plain {t_plain:.1f} s, speculative {t_spec:.1f} s")
    if assistant == "a":
        assert rate == 1.0  # an identical assistant is always right
    else:
        assert 0.0 < rate < 0.9  # partial acceptance: rejections exercised
        assert any(0 < t.stats.assistant_accepted < t.stats.assistant_proposed
                   for t, _ in spec.values())


def test_stats_and_status_carry_the_acceptance(corpus, corpus_results, backends):
    t = corpus_results["b"][corpus.clips[0]["path"]][0]
    timings = t.stats.timings()
    assert {"assistant_tokens_proposed", "assistant_tokens_accepted", "acceptance_rate"} <= set(timings)
    assert timings["acceptance_rate"] == round(t.stats.assistant_accepted / t.stats.assistant_proposed, 4)
    plain = corpus_results["plain"][corpus.clips[0]["path"]][0]
    assert plain.stats.assistant_proposed is None and plain.stats.timings() == {"batch_size": 1}
    st = backends["b"].status()
    assert st.mode == "speculative" and st.assistant_encoder == "shared" and st.dtype == "float32"
    assert not st.batching and backends["plain"].status().batching
    assert backends["plain"].status().mode == "plain" and backends["plain"].status().assistant_model is None


def test_forced_prefix_and_token_cap_behave_as_in_plain_decoding(corpus, backends, audio):
    plain, spec = backends["plain"], backends["b"]
    a = audio[corpus.clips[1]["path"]]
    forced = list(plain.transcribe(a).tokens[:3])
    _same(plain.transcribe(a, prefix_tokens=forced), spec.transcribe(a, prefix_tokens=forced))
    # A cap shorter than the text: both stop at it and say so; a cap equal to the text length is
    # not "reached", since end-of-text follows (the one extra step both modes take).
    a = audio[corpus.clips[0]["path"]]
    n = len(plain.transcribe(a).tokens)
    try:
        for cap, reason in ((5, "token cap reached"), (n, None)):
            guards = GuardConfig(tokens_per_second=0.1, min_tokens=cap, max_tokens=cap)
            for b in (plain, spec):
                b.options = dataclasses.replace(b.options, guards=guards)
            p, s = plain.transcribe(a), spec.transcribe(a)
            _same(p, s)
            assert p.guard == reason and len(p.tokens) == cap
    finally:
        for b in (plain, spec):
            b.options = dataclasses.replace(b.options, guards=GuardConfig())


def test_assistant_with_its_own_encoder_drafts_the_same(corpus, backends, audio, student_model):
    """The path for assistants whose encoder differs (it encodes the features itself): forced here
    on the student, whose encoder equals the main model's, so drafts and counts must not change."""
    from stenod.asr.speculative import Assistant

    spec = backends["b"]
    shared = spec.assistant
    own = Assistant(_ref(student_model), spec, share_encoder=False)
    assert not own.shares_encoder and type(own.draft).__name__ == "WhisperForConditionalGeneration"
    assert shared.shares_encoder and type(shared.draft).__name__ == "WhisperForCausalLM"
    try:
        for item in corpus.clips[2:3] + corpus.noise[:1]:
            a = audio[item["path"]]
            spec.assistant = shared
            s = spec.transcribe(a)
            spec.assistant = own
            o = spec.transcribe(a)
            _same(s, o)
            assert o.stats == s.stats
    finally:
        spec.assistant = shared


def test_compatibility_check(backends):
    from stenod.asr.speculative import check_compatible

    main = backends["plain"]
    check_compatible("m", main.model, main.tokenizer, "a", main.model, main.tokenizer)  # itself: fine
    bigger = SimpleNamespace(config=SimpleNamespace(vocab_size=51865), generation_config=main.model.generation_config)
    with pytest.raises(ModelError, match="cannot assist m in speculative decoding: vocabulary sizes differ"):
        check_compatible("m", main.model, main.tokenizer, "big", bigger, main.tokenizer)


def _altered_copy(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    edit(dst)
    return dst


def _swap_two_tokens(d: Path) -> None:
    tok = json.loads((d / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    vocab["hello"], vocab["world"] = vocab["world"], vocab["hello"]
    (d / "tokenizer.json").write_text(json.dumps(tok))


def _other_no_timestamps_token(d: Path) -> None:
    gen = json.loads((d / "generation_config.json").read_text())
    gen["no_timestamps_token_id"] = 50361
    (d / "generation_config.json").write_text(json.dumps(gen))


def test_incompatible_assistant_is_refused(bundled_model, tmp_path):
    from stenod.cli import UserError, build_parser
    from stenod.commands.transcribe import load_backend_or_fail, load_settings

    def transcribe_args(assistant):
        return load_settings(build_parser().parse_args(
            ["transcribe", "--model", str(bundled_model), "--device", "cpu", "--assistant-model", str(assistant), "x"]))

    for name, edit, message in (
            ("tokens", _swap_two_tokens, "the tokenizers map 2 tokens differently (e.g. 'hello')"),
            ("special", _other_no_timestamps_token, "special token no-timestamps differs (50362 against 50361)")):
        bad = _altered_copy(bundled_model, tmp_path / name, edit)
        with pytest.raises(UserError) as err:  # what `stenod transcribe` prints as its one error line
            load_backend_or_fail(*transcribe_args(bad))
        assert str(err.value).startswith(f"{bad} cannot assist {bundled_model} in speculative decoding: {message}")
        assert "\n" not in str(err.value)


def test_transcribe_cli_with_assistant_gives_the_plain_text(corpus, stenod_env, student_model, corpus_results):
    """The check from the issue: `stenod transcribe --assistant-model` gives byte-identical text to
    plain decoding (of the same model and guards, in process above) on files the other tests do not
    single out, and reports the acceptance."""
    paths = [c["path"] for c in corpus.clips[6::13]] + [corpus.noise[2]["path"]]
    spec = run_cli(["transcribe", "--model", "bundled:tiny.en", "--assistant-model", str(student_model),
                    "--json", *paths], stenod_env)
    assert spec.returncode == 0, spec.stderr
    s = [json.loads(x) for x in spec.stdout.splitlines()]
    assert [r["path"] for r in s] == paths
    assert [r["text"].encode() for r in s] == [corpus_results["plain"][p][0].text.encode() for p in paths]
    for r in s:
        assert r["assistant_model"] == str(student_model)
        assert 0 <= r["assistant_tokens_accepted"] <= r["assistant_tokens_proposed"]
    proposed = sum(r["assistant_tokens_proposed"] for r in s)
    accepted = sum(r["assistant_tokens_accepted"] for r in s)
    summary = [x for x in spec.stderr.splitlines() if "draft tokens" in x]
    assert summary == [f"stenod: speculative decoding with {student_model}: the model accepted {accepted} of "
                       f"{proposed} draft tokens ({accepted / proposed:.1%})"]


def test_speculative_without_a_usable_assistant(corpus, stenod_env, bundled_model):
    from stenod.asr.speculative import AssistantError
    from stenod.cli import UserError, build_parser
    from stenod.commands.transcribe import load_settings

    # The default model is offline: it falls back to tiny.en, and speculative decoding goes with it.
    out = run_cli(["transcribe", "--decoding", "speculative", corpus.clips[0]["path"]], stenod_env)
    assert out.returncode == 0, out.stderr
    assert "falling back" in out.stderr and "speculative decoding is off" in out.stderr and out.stdout.strip()
    # A named model with no assistant named and none published for it: a clear error.
    with pytest.raises(AssistantError, match=f"none is known for {bundled_model}"):
        load_backend(str(bundled_model), BackendOptions(device="cpu", decoding="speculative"))
    # A named assistant that cannot be loaded never falls back.
    with pytest.raises(AssistantError, match="not a transformers model directory"):
        load_backend(str(bundled_model), BackendOptions(device="cpu", decoding="speculative",
                                                        assistant="/no/such/student"))
    args = build_parser().parse_args(["transcribe", "--model", str(bundled_model), "--assistant-model",
                                      str(bundled_model), "--decoding", "plain", "x"])
    with pytest.raises(UserError, match="--assistant-model is for speculative decoding"):
        load_settings(args)


def test_derived_student_keeps_the_first_and_last_decoder_layers(bundled_model, student_model):
    from safetensors.numpy import load_file

    from stenod.commands.models import derive_student

    config = json.loads((student_model / "config.json").read_text())
    assert config["decoder_layers"] == 2 and config["encoder_layers"] == 4
    source = json.loads((student_model / "stenod-source.json").read_text())
    assert source["kept_decoder_layers"] == [0, 3] and source["teacher_decoder_layers"] == 4
    teacher, student = load_file(bundled_model / "model.safetensors"), load_file(student_model / "model.safetensors")
    for key, value in student.items():
        src = key.replace("decoder.layers.1.", "decoder.layers.3.")
        np.testing.assert_array_equal(value, teacher[src], err_msg=key)
    assert not any(k.startswith("model.decoder.layers.2.") for k in student)
    from stenod.cli import UserError

    args = SimpleNamespace(name=str(bundled_model), layers="0,7", output=None, force=False)
    with pytest.raises(UserError, match=r"decoder layer 7 does not exist \(the teacher has 4 decoder layers\)"):
        derive_student(args)
    with pytest.raises(UserError, match="--layers: expected comma-separated decoder layer indices"):
        derive_student(SimpleNamespace(name=str(bundled_model), layers="first", output=None, force=False))


def test_static_cache_decoding_matches_plain(corpus, backends, audio, bundled_model):
    b = WhisperBackend(_ref(bundled_model), BackendOptions(device="cpu", static_cache=True))
    assert b.status().static_cache and not b.status().compile
    for item in corpus.clips[:2] + corpus.noise[:1]:
        _same(backends["plain"].transcribe(audio[item["path"]]), b.transcribe(audio[item["path"]]))


def test_compiled_decoder_matches_plain(corpus, backends, audio, bundled_model):
    """torch.compile of the decoder step, warmed up before use and never recompiled afterwards.
    On CUDA it runs inductor with CUDA graphs; here dynamo with the aot_eager backend checks the
    same path (static cache, the compiled step inside generate, the self-removing no-speech hook)
    without minutes of C++ code generation."""
    from torch._dynamo.utils import counters

    b = WhisperBackend(_ref(bundled_model), BackendOptions(device="cpu", compile=True))
    assert b.status().compile and b.status().static_cache
    b._compile_config.backend, b._compile_config.mode = "aot_eager", None
    b.warm_up()
    assert hasattr(b.model, "_compiled_call")  # transformers' generate compiled the decoder step
    graphs = counters["stats"]["unique_graphs"]
    for item in corpus.clips[3:4] + corpus.noise[1:2]:
        _same(backends["plain"].transcribe(audio[item["path"]]), b.transcribe(audio[item["path"]]))
    assert counters["stats"]["unique_graphs"] == graphs  # no recompilation after the warm-up


def test_backend_options_and_config_keys():
    from stenod.config import ConfigError, ModelConfig, apply_overrides, config_from_dict

    cfg = config_from_dict({"model": {"name": "openai/whisper-medium.en", "decoding": "speculative",
                                      "assistant_model": "distil-whisper/distil-medium.en", "dtype": "float16",
                                      "attention": "flash_attention_2", "compile": False, "static_cache": True}})
    opts = BackendOptions.from_config(cfg.model)
    assert (opts.decoding, opts.assistant, opts.dtype, opts.attention, opts.compile, opts.static_cache) == (
        "speculative", "distil-whisper/distil-medium.en", "float16", "flash_attention_2", False, True)
    assert BackendOptions.from_config(ModelConfig()) == BackendOptions()  # same safe defaults
    for key, bad in (("decoding", "greedy"), ("attention", "flash"), ("dtype", "int8"), ("static_cache", "maybe")):
        with pytest.raises(ConfigError, match=f"model.{key}"):
            apply_overrides(cfg, {f"model.{key}": bad})
    for bad in (dict(decoding="greedy"), dict(attention="flash"), dict(dtype="half"), dict(assistant=" ")):
        with pytest.raises(ValueError):
            BackendOptions(**bad)
    import torch

    with pytest.raises(ModelError, match="flash_attention_2 needs a CUDA device"):
        pick_attention("flash_attention_2", "cpu", torch.float32)
    assert pick_attention("eager", "cpu", torch.float32) == "eager"


def test_default_pairings():
    from stenod.asr.speculative import default_assistant

    assert default_assistant("openai/whisper-medium.en") == "distil-whisper/distil-medium.en"
    with pytest.raises(ModelError, match="none is known for distil-whisper/distil-medium.en"):
        default_assistant("distil-whisper/distil-medium.en")


def test_load_backend_does_not_fall_back_when_the_assistant_fails(bundled_model, monkeypatch):
    """An assistant error with a working default model must surface, not swap the main model."""
    from stenod.asr import backend as backend_module
    from stenod.asr.speculative import AssistantError

    # Every name resolves to (a copy of) tiny.en: the default model loads, and no assistant is
    # published for it.
    monkeypatch.setattr(backend_module, "resolve", lambda name: ModelRef(name, str(bundled_model), local=True))
    with pytest.raises(AssistantError, match="none is known for distil-whisper/distil-medium.en"):
        load_backend(None, BackendOptions(device="cpu", decoding="speculative"))

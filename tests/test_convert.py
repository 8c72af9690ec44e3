"""The CTranslate2 -> transformers conversion of the bundled tiny.en, checked tensor by tensor."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from stenod.asr import resolve
from stenod.asr.ct2 import Ct2FormatError, read_model_bin
from stenod.asr.convert import ConversionError, state_dict_arrays


@pytest.fixture(scope="module")
def ct2():
    return read_model_bin(resolve.bundled_source("tiny.en") / "model.bin")


@pytest.fixture(scope="module")
def converted(bundled_model):
    from safetensors.numpy import load_file

    return load_file(str(bundled_model / "model.safetensors"))


def test_reader_sees_whisper_spec(ct2):
    assert ct2.spec == "WhisperSpec"
    assert ct2.get("decoder/embeddings/weight").shape == (51864, 384)
    assert ct2.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}


def test_fused_self_attention_split(ct2, converted):
    fused_w = ct2.get("encoder/layer_2/self_attention/linear_0/weight").astype(np.float32)
    fused_b = ct2.get("encoder/layer_2/self_attention/linear_0/bias").astype(np.float32)
    d = fused_w.shape[1]
    for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
        np.testing.assert_array_equal(converted[f"model.encoder.layers.2.self_attn.{name}.weight"],
                                      fused_w[i * d:(i + 1) * d])
    np.testing.assert_array_equal(converted["model.encoder.layers.2.self_attn.q_proj.bias"], fused_b[:d])
    np.testing.assert_array_equal(converted["model.encoder.layers.2.self_attn.v_proj.bias"], fused_b[2 * d:])
    assert not np.any(fused_b[d:2 * d]), "CTranslate2's key bias must be zero to be dropped"
    assert "model.encoder.layers.2.self_attn.k_proj.bias" not in converted


def test_cross_attention_split(ct2, converted):
    kv = ct2.get("decoder/layer_1/attention/linear_1/weight").astype(np.float32)
    d = kv.shape[1]
    np.testing.assert_array_equal(converted["model.decoder.layers.1.encoder_attn.k_proj.weight"], kv[:d])
    np.testing.assert_array_equal(converted["model.decoder.layers.1.encoder_attn.v_proj.weight"], kv[d:])
    np.testing.assert_array_equal(converted["model.decoder.layers.1.encoder_attn.out_proj.weight"],
                                  ct2.get("decoder/layer_1/attention/linear_2/weight").astype(np.float32))


def test_every_tensor_equals_ct2_data(ct2, converted):
    expected = state_dict_arrays(ct2)
    assert set(expected) <= set(converted)
    for name, value in expected.items():
        np.testing.assert_array_equal(converted[name], value.astype(np.float32), err_msg=name)
    # Every CTranslate2 weight is accounted for: fp16 values in, the same count out.
    n_ct2 = sum(v.size for k, v in ct2.variables.items() if v.dtype == np.float16)
    n_hf = sum(v.size for k, v in expected.items())
    n_key_bias = sum(v.size // 3 for k, v in ct2.variables.items() if k.endswith("self_attention/linear_0/bias"))
    n_key_bias += sum(v.size // 2 for k, v in ct2.variables.items() if k.endswith("/attention/linear_1/bias"))
    assert n_hf == n_ct2 - n_key_bias


def test_nonzero_key_bias_is_refused(ct2):
    import dataclasses

    variables = dict(ct2.variables)
    bias = variables["encoder/layer_0/self_attention/linear_0/bias"].copy()
    bias[len(bias) // 3] = 1.0
    variables["encoder/layer_0/self_attention/linear_0/bias"] = bias
    with pytest.raises(ConversionError, match="key bias"):
        state_dict_arrays(dataclasses.replace(ct2, variables=variables))


def test_truncated_file_is_a_clear_error(tmp_path):
    src = resolve.bundled_source("tiny.en") / "model.bin"
    bad = tmp_path / "model.bin"
    bad.write_bytes(src.read_bytes()[:5000])
    with pytest.raises(Ct2FormatError, match="truncated"):
        read_model_bin(bad)


def test_checkpoint_reloads_offline_with_tokens_registered(bundled_model):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    model = WhisperForConditionalGeneration.from_pretrained(bundled_model, local_files_only=True)
    proc = WhisperProcessor.from_pretrained(bundled_model, local_files_only=True)
    tok = proc.tokenizer
    assert model.config.decoder_layers == 4 and model.config.d_model == 384
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()
    assert tok.convert_tokens_to_ids("<|startoftranscript|>") == 50257
    assert tok.convert_tokens_to_ids("<|0.00|>") == 50363
    assert tok.decode([50257, 50362]) == "<|startoftranscript|><|notimestamps|>"
    assert tok.decode([50257, 50362, 314, 481, 50256], skip_special_tokens=True).strip() == "I will"
    gc = model.generation_config
    assert gc.no_timestamps_token_id == 50362 and 50357 in gc.suppress_tokens
    assert gc.begin_suppress_tokens == [220, 50256]


def test_second_resolution_reuses_cache(bundled_model, stenod_env, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", stenod_env["XDG_CACHE_HOME"])
    mtime = os.stat(bundled_model / "model.safetensors").st_mtime_ns
    t0 = time.perf_counter()
    ref = resolve.resolve("bundled:tiny.en")
    assert time.perf_counter() - t0 < 1.0
    assert ref.location == str(bundled_model)
    assert os.stat(bundled_model / "model.safetensors").st_mtime_ns == mtime


def test_conversion_is_atomic_when_interrupted(tmp_path, monkeypatch):
    """A failure mid-way leaves no directory that a later run would take as a finished checkpoint."""
    from stenod.asr import convert as conv

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(conv, "_build_tokenizer", boom)
    dst = tmp_path / "models" / "tiny"
    with pytest.raises(RuntimeError, match="disk full"):
        conv.convert(resolve.bundled_source("tiny.en"), dst)
    assert not dst.exists()
    assert list((tmp_path / "models").iterdir()) == []

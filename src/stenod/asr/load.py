"""Loading a Whisper model: the device, dtype and attention kernels it runs with, and the weights."""

from __future__ import annotations

from stenod.asr.options import ATTENTIONS
from stenod.asr.resolve import ModelError, ModelRef, hub_reachable


def cache_keyword() -> str:
    """The name of the KV-cache argument of the decoder and of `generate`, and of the cache in
    generate's output: `past_key_values` up to transformers 5.1x, `cache` in later releases."""
    import inspect

    from transformers.models.whisper.modeling_whisper import WhisperDecoder

    return "cache" if "cache" in inspect.signature(WhisperDecoder.forward).parameters else "past_key_values"


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} requested but CUDA is not available (torch {torch.__version__})")
    if device != "cpu" and not device.startswith("cuda"):
        raise ModelError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    return device


def pick_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in table:
        raise ModelError(f"unknown dtype {dtype!r}; use auto, float32, float16 or bfloat16")
    if dtype == "bfloat16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        raise ModelError(f"bfloat16 is not supported on {torch.cuda.get_device_name(device)}; use float16")
    return table[dtype]


def pick_attention(attention: str, device: str, dtype) -> str:
    """The attention implementation; flash_attention_2 only where it can run."""
    import importlib.util

    import torch

    if attention not in ATTENTIONS:
        raise ModelError(f"unknown attention {attention!r}; use {', '.join(ATTENTIONS)}")
    if attention == "flash_attention_2":
        if not device.startswith("cuda"):
            raise ModelError("flash_attention_2 needs a CUDA device; use sdpa")
        if dtype not in (torch.float16, torch.bfloat16):
            raise ModelError("flash_attention_2 needs dtype float16 or bfloat16")
        if importlib.util.find_spec("flash_attn") is None:
            raise ModelError("flash_attention_2 needs the flash-attn package (pip install flash-attn); "
                             "or use sdpa, whose CUDA kernels include FlashAttention")
    return attention


def load_pretrained(ref: ModelRef, device: str, dtype, attention: str = "sdpa"):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    def load(local_only: bool):
        processor = WhisperProcessor.from_pretrained(ref.location, local_files_only=local_only)
        model = WhisperForConditionalGeneration.from_pretrained(
            ref.location, local_files_only=local_only, dtype=dtype, attn_implementation=attention)
        return model, processor

    try:
        try:
            model, processor = load(local_only=True)
        except OSError:
            if ref.local or not hub_reachable():
                raise
            model, processor = load(local_only=False)
    except OSError as exc:
        where = "the local directory" if ref.local else "the Hugging Face cache, and the hub is unreachable"
        raise ModelError(f"cannot load {ref.name}: not found in {where} ({str(exc).splitlines()[0]})") from None
    except (ValueError, RuntimeError, KeyError) as exc:
        raise ModelError(f"cannot load {ref.name}: {str(exc).splitlines()[0]}") from None
    return model.to(device).eval(), processor

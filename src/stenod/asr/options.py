"""How a backend decodes: the option lists (defined here once) and `BackendOptions`.

The `[model]` config section, the command-line flags of `stenod transcribe` and the backend all
take their choices from these `Literal` types, so a new choice is added in one place. No torch
here: the config and the clients import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from stenod.asr.guards import GuardConfig

Decoding = Literal["plain", "speculative"]
Dtype = Literal["auto", "float32", "float16", "bfloat16"]
Attention = Literal["sdpa", "eager", "flash_attention_2"]
DECODINGS: tuple[str, ...] = get_args(Decoding)
DTYPES: tuple[str, ...] = get_args(Dtype)
ATTENTIONS: tuple[str, ...] = get_args(Attention)


@dataclass(frozen=True)
class BackendOptions:
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: Dtype = "auto"  # auto (cuda: float16, cpu: float32) | float32 | float16 | bfloat16 (where supported)
    threads: int = 0  # CPU threads for torch; 0 = torch's default
    guards: GuardConfig = GuardConfig()
    decoding: Decoding = "plain"  # plain (one model) | speculative (an assistant drafts, the model verifies)
    assistant: str | None = None  # speculative: the assistant model; None = the published pair of the model
    attention: Attention = "sdpa"  # sdpa (PyTorch fused kernels) | eager | flash_attention_2 (flash-attn, CUDA)
    compile: bool = False  # torch.compile the decoder step (plain decoding only; implies static_cache)
    static_cache: bool = False  # preallocated KV cache (plain decoding only)

    def __post_init__(self) -> None:
        for name, value, allowed in (("decoding", self.decoding, DECODINGS), ("dtype", self.dtype, DTYPES),
                                     ("attention", self.attention, ATTENTIONS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.assistant is not None and not self.assistant.strip():
            raise ValueError("assistant must not be empty (None for the default pairing)")

    @classmethod
    def from_config(cls, model, **overrides) -> "BackendOptions":
        """Options from the `[model]` section of the configuration (`stenod.config.ModelConfig`)."""
        return cls(**{"device": model.device, "dtype": model.dtype, "decoding": model.decoding,
                      "assistant": model.assistant_model, "attention": model.attention,
                      "compile": model.compile, "static_cache": model.static_cache, **overrides})

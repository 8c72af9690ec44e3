"""A Whisper backend over random weights in a named architecture, decoding a forced number of tokens.

Where no checkpoint can travel (the GPU machine), speed is still measured on the exact
architecture (`gpubench.ARCHITECTURES`, built by `gpubench.build_model`): the cost of a decode
depends on the layers and the number of tokens, not on the weights. `SyntheticBackend` is a
`WhisperBackend` whose model is such a random-weight model, so requests go through the backend's
own code: log-mel features, the cancellable encoder, the single and batched greedy loops
(`greedy.py`, `batch.py`), draft verification, and with ``static_cache``/``compile`` the
transformers `generate` path with a static cache and CUDA graphs. Two things differ, both to
force the token count: end-of-text is suppressed, so every decode runs to its token cap, and the
cap is ``tokens`` whatever the audio's length; the text is one placeholder word per token and the
guards are not applied (random weights give no speech to judge). Plain decoding only: with random
weights an assistant's acceptance would mean nothing.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from stenod.asr.backend import WhisperBackend
from stenod.asr.greedy import Vocab
from stenod.asr.guards import GuardConfig
from stenod.asr.load import cache_keyword, pick_attention, pick_device, pick_dtype
from stenod.asr.options import BackendOptions
from stenod.types import DecodeRequest, DecodeStats, Transcript

SOT, EOT, NO_TIMESTAMPS, NO_SPEECH = 50257, 50256, 50362, 50361


class SyntheticBackend(WhisperBackend):
    """`WhisperBackend` on random weights of ``arch`` (a `gpubench.ARCHITECTURES` entry):
    every decode makes exactly ``tokens`` tokens (fewer only when cancelled)."""

    def __init__(self, name: str, arch: dict, tokens: int, options: BackendOptions = BackendOptions()):
        import torch
        from transformers import WhisperFeatureExtractor

        from stenod.asr.gpubench import build_model

        if tokens < 1:
            raise ValueError(f"tokens must be at least 1, got {tokens}")
        if options.decoding != "plain":
            raise ValueError("random weights decode plain only: an assistant's acceptance would mean nothing")
        if options.threads > 0:
            torch.set_num_threads(options.threads)
        # The real token cap with min = max = `tokens`: the cap no longer depends on the audio.
        self.options = replace(options, guards=GuardConfig(min_tokens=tokens, max_tokens=tokens))
        self._name, self.tokens = name, tokens
        self.batches: collections.Counter[int] = collections.Counter()  # batch size -> transcribe_batch calls
        self.device = pick_device(options.device)
        self.dtype = pick_dtype(options.dtype, self.device)
        self.attention = pick_attention(options.attention, self.device, self.dtype)
        self.model = build_model(arch, self.device, self.dtype, self.attention)
        self.model.generation_config.decoder_start_token_id = SOT
        self.model.generation_config.eos_token_id = EOT
        self.feature_extractor = WhisperFeatureExtractor(feature_size=arch["num_mel_bins"])
        self.processor = self.tokenizer = None
        self.cache_kw = cache_keyword()
        self.eot, self.no_speech_id, self.prompt_start = EOT, NO_SPEECH, None
        self.prefix = [SOT, NO_TIMESTAMPS]
        # Only end-of-text and the control tokens are suppressed: every decode runs to its cap.
        mask = torch.zeros(arch["vocab_size"], dtype=torch.bool)
        mask[EOT:] = True
        self.suppress_mask = self.begin_suppress_mask = mask.to(self.device)
        self.vocab = Vocab(self.prefix, self.eot, self.no_speech_id, self.suppress_mask, self.begin_suppress_mask)
        self._cancel = None
        for layer in self.model.model.encoder.layers:
            layer.register_forward_pre_hook(self._check_cancel)
        self.assistant = None
        self._static_cache = self._compile_config = None
        if options.static_cache or options.compile:
            self._setup_static(options.compile)

    @property
    def name(self) -> str:
        return self._name

    def transcribe_batch(self, requests: Sequence[DecodeRequest]) -> list[Transcript | None]:
        self.batches[len(requests)] += 1
        return super().transcribe_batch(requests)

    def features(self, audio: np.ndarray):
        feats = self.feature_extractor(audio, sampling_rate=16000, return_tensors="pt").input_features
        return feats.to(self.device, self.dtype)

    def encode_prompt(self, vocabulary: Sequence[str], context: str, max_tokens: int) -> list[int]:
        return []  # no tokenizer: placeholder text has no tokens to prompt with

    def decode(self, tokens) -> str:
        return " ".join(f"w{int(t)}" for t in tokens)

    def finish(self, req: DecodeRequest, tokens: list[int], nsp: float, logprobs: list[float], hit_cap: bool,
               encode_ms: float, decode_ms: float, stats: DecodeStats) -> Transcript:
        """The Transcript without the guards (the forced tokens are no speech to judge)."""
        tokens = list(req.prefix) + list(tokens)[: self.tokens]
        return Transcript(text=self.decode(tokens), tokens=tuple(tokens), no_speech_prob=nsp,
                          avg_logprob=float(np.mean(logprobs)) if logprobs else 0.0,
                          token_logprobs=tuple(logprobs[: self.tokens]), audio_s=len(req.audio) / 16000,
                          encode_ms=encode_ms, decode_ms=decode_ms, stats=stats)


def synthetic_backend(arch_name: str, size: str, tokens: int, options: BackendOptions) -> SyntheticBackend:
    """The backend of `arch_name` ("distil-medium.en" | "whisper-medium.en") at `size` ("full" | "tiny")."""
    from stenod.asr.gpubench import ARCHITECTURES

    if size not in ARCHITECTURES or arch_name not in ARCHITECTURES[size]:
        raise ValueError(f"unknown architecture {arch_name!r} at size {size!r}")
    label = f"random:{arch_name}" + ("(tiny)" if size != "full" else "")
    return SyntheticBackend(label, ARCHITECTURES[size][arch_name], tokens, options)

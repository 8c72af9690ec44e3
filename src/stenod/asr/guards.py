"""Decoding guards: keep Whisper from publishing words that nobody said.

Raw Whisper answers silence, noise and beeps with "you" and can loop ("right, right, right…")
until the token limit. These pure functions decide, from what the decoder reported, whether a
hypothesis is kept, trimmed or dropped. Shared by `stenod transcribe` and the live daemon.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class GuardConfig:
    """Thresholds, measured on the corpus (speech: no-speech prob <= 0.03; noise: >= 0.6)."""

    no_speech_threshold: float = 0.5  # drop when P(no speech) at the start-of-transcript is above this
    weak_no_speech: float = 0.2  # ... or above this while the text is also unlikely:
    logprob_threshold: float = -1.0  # average log-probability per token below this
    compression_ratio_threshold: float = 2.4  # gzip ratio above this means a repetition loop
    tokens_per_second: float = 8.0  # token cap: this many per second of audio ...
    min_tokens: int = 12  # ... plus this many, ...
    max_tokens: int = 220  # ... never more than this

    def __post_init__(self) -> None:
        for name in ("no_speech_threshold", "weak_no_speech"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if self.tokens_per_second <= 0 or self.min_tokens < 1 or self.max_tokens < self.min_tokens:
            raise ValueError("token cap settings must be positive and max_tokens >= min_tokens")


def token_cap(duration_s: float, cfg: GuardConfig) -> int:
    """How many tokens a clip of this length may produce; speech runs at ~3-5 tokens/s."""
    return int(min(cfg.max_tokens, cfg.min_tokens + math.ceil(max(0.0, duration_s) * cfg.tokens_per_second)))


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    if not raw:
        return 0.0
    return len(raw) / len(zlib.compress(raw))


def trim_repetition(tokens: list[int], max_period: int = 8, min_repeats: int = 3) -> list[int]:
    """Cut a trailing loop: if the tail is one n-gram (n <= max_period) repeated at least
    `min_repeats` times, keep a single copy of it. Returns the tokens unchanged otherwise."""
    n = len(tokens)
    best = n
    for period in range(1, max_period + 1):
        if period * min_repeats > n:
            break
        unit = tokens[n - period :]
        k = 1
        while (k + 1) * period <= n and tokens[n - (k + 1) * period : n - k * period] == unit:
            k += 1
        if k >= min_repeats:
            best = min(best, n - (k - 1) * period)
    return tokens[:best]


@dataclass(frozen=True)
class Verdict:
    keep: bool
    tokens: list[int]
    reason: str | None  # why the hypothesis was dropped or trimmed, for logs and timings


def judge(tokens: list[int], no_speech_prob: float, avg_logprob: float, hit_cap: bool,
          decode, cfg: GuardConfig) -> Verdict:
    """Apply the guards. `decode` turns token ids into text (for the compression check)."""
    if no_speech_prob > cfg.no_speech_threshold:
        return Verdict(False, [], f"no_speech_prob {no_speech_prob:.2f}")
    if no_speech_prob > cfg.weak_no_speech and avg_logprob < cfg.logprob_threshold:
        return Verdict(False, [], f"no_speech_prob {no_speech_prob:.2f} with avg_logprob {avg_logprob:.2f}")
    reason = None
    trimmed = trim_repetition(tokens)
    if len(trimmed) < len(tokens):
        tokens, reason = trimmed, "repetition trimmed"
    elif hit_cap:
        reason = "token cap reached"
    if compression_ratio(decode(tokens)) > cfg.compression_ratio_threshold:
        return Verdict(False, [], "compression ratio above threshold (repetition loop)")
    if not tokens:
        return Verdict(False, [], reason or "no tokens")
    return Verdict(True, tokens, reason)

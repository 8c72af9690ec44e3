"""Word error rate and latency statistics, with one documented text normalization.

Normalization: Whisper's English normalizer (transformers' `EnglishTextNormalizer`): lower-case,
punctuation and filler words removed, numbers written as digits ("twenty five" -> "25"),
contractions and common spellings standardized. Both reference and hypothesis go through it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _normalizer():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer({})


def normalize(text: str) -> str:
    return " ".join(_normalizer()(text).split())


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, reference word count) after normalization."""
    r, h = normalize(ref).split(), normalize(hyp).split()
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        cur = [i] + [0] * len(h)
        for j, hw in enumerate(h, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rw != hw))
        prev = cur
    return prev[-1], len(r)


def wer(refs: list[str], hyps: list[str]) -> float:
    """Corpus WER in percent: total word edits over total reference words."""
    if len(refs) != len(hyps):
        raise ValueError("refs and hyps differ in length")
    errors = words = 0
    for r, h in zip(refs, hyps):
        e, n = word_errors(r, h)
        errors, words = errors + e, words + n
    return 100.0 * errors / words if words else 0.0


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95 and max of a list (NaN when empty)."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    a = np.asarray(values, dtype=float)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}

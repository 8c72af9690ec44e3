"""Greedy Whisper decoding over a cached decoder, with draft verification and cancellation.

A live utterance is decoded again and again as it grows, and each decode mostly repeats the
previous one's tokens. Those tokens are passed as a *draft*: one decoder pass over the whole
draft checks it (the argmax at every position), the longest agreeing prefix is kept, and greedy
decoding goes on from the first disagreement. The result is the greedy result (exactly the
tokens one-by-one decoding picks, up to float rounding in near-ties), at the cost of about one
decoder step for the agreeing part instead of one step per token.

The first pass also yields the no-speech probability at the start-of-transcript position, as in
OpenAI's Whisper. `cancel()` is polled before every decoder pass; when it turns true the decode is
abandoned with DecodeCancelled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stenod.types import DecodeCancelled


@dataclass(frozen=True)
class Vocab:
    """The token ids and masks decoding needs (masks are bool tensors over the vocabulary)."""

    prefix: list[int]  # [previous-text prompt +] start-of-transcript (+ language, task) + no-timestamps
    eot: int
    no_speech: int
    suppress: object
    begin_suppress: object


@dataclass
class GreedyResult:
    tokens: list[int]
    no_speech_prob: float
    logprobs: list[float]
    hit_cap: bool
    draft_accepted: int = 0


def _crop(cache, keep: int) -> None:
    """Shorten a self-attention cache to `keep` positions. A negative count removes that many
    tokens in every transformers release (a positive one meant a final length in 4.x and is
    refused in 5.x)."""
    surplus = cache.get_seq_length() - keep
    if surplus > 0:
        cache.crop(-surplus)


def greedy_decode(model, enc, vocab: Vocab, forced: list[int], cap: int, cache_kw: str,
                  draft: list[int] | None = None, cancel: Callable[[], bool] | None = None,
                  sot_index: int = 0, cross=None) -> GreedyResult:
    """Greedy decoding after `vocab.prefix + forced`, at most `cap` new tokens (fewer if the
    model's context is shorter). `draft`: tokens expected to follow (e.g. the previous decode's).
    `sot_index`: where start-of-transcript lies in the prefix (after a previous-text prompt); the
    no-speech probability is read there. `cross`: a DynamicCache already holding the cross-attention
    keys and values of `enc` (from an earlier decoder pass over it), so they are not computed again."""
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    device = enc.device
    decoder, proj = model.model.decoder, model.proj_out
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache() if cross is None else cross)
    head = vocab.prefix + forced
    limit = max(0, min(cap, model.config.max_target_positions - len(head) - 1))
    draft = [t for t in (draft or [])[:limit] if t != vocab.eot]
    out: list[int] = []
    logprobs: list[float] = []
    ids = head + draft
    nsp = 0.0
    first = True
    accepted = 0
    while True:
        if cancel is not None and cancel():
            raise DecodeCancelled()
        hidden = decoder(input_ids=torch.tensor([ids], device=device), encoder_hidden_states=enc,
                         use_cache=True, **{cache_kw: cache}).last_hidden_state[0]
        if first:
            nsp = float(torch.softmax(proj(hidden[sot_index]).float(), -1)[vocab.no_speech])
            # Positions len(head)-1 ... predict the first new token, then each draft token in turn.
            hidden = hidden[len(head) - 1 :]
        logits = proj(hidden).float()
        if first and not forced:
            logits[0] = logits[0].masked_fill(vocab.begin_suppress, float("-inf"))
            logits[1:] = logits[1:].masked_fill(vocab.suppress, float("-inf"))
        else:
            logits = logits.masked_fill(vocab.suppress, float("-inf"))
        lp = torch.log_softmax(logits, -1)
        picks = torch.argmax(logits, -1).tolist()
        checked = draft if first else []
        for i, tok in enumerate(picks):
            if tok == vocab.eot:
                return GreedyResult(out, nsp, logprobs, False, accepted)
            if len(out) == limit:
                return GreedyResult(out, nsp, logprobs, True, accepted)
            out.append(tok)
            logprobs.append(float(lp[i, tok]))
            if i >= len(checked) or checked[i] != tok:
                break  # the first disagreement (or the end of the draft): a fresh token
            accepted += 1
        if first:
            _crop(cache.self_attention_cache, len(head) + len(out) - 1)
            first = False
        ids = [out[-1]]

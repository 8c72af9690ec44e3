"""Batched plain decoding: several requests through one encoder call and one greedy decoder loop.

Whisper's encoder always sees a full 30 s window (shorter audio is padded with silence by the
feature extractor), so the windows of several requests stack into one encoder input without
further padding. The decoder runs one greedy loop over the whole batch: one forward pass per step
for all rows, each row with its own prefix (prompt, start-of-transcript, forced tokens), its own
token cap, suppression (the begin mask only where no tokens are forced), no-speech probability and
guards. A row that has ended (end-of-text or its cap) keeps being fed end-of-text until the last
row ends; its tokens are no longer read.

Rows of one loop must have prefixes of the same length: the decoder's positions are counted from
the cache length, the same for every row, so left-padding shorter prefixes would shift them (and
transformers' `generate` takes one `prompt_ids` for the whole batch: it repeats it for every row).
Requests are therefore grouped by prefix length, and each group runs as its own batch; a group of
one runs the single-request loop (`greedy.py`). Drafts are not verified in a batch (a speed lever
of single decodes only; the text is the same either way).

The text equals one-by-one decoding up to float rounding of batched matrix products, which could
flip an argmax between two near-tied tokens (the corpus test checks that it does not).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace

from stenod import SAMPLE_RATE
from stenod.asr.greedy import GreedyResult, greedy_decode
from stenod.asr.guards import token_cap
from stenod.types import DecodeCancelled, DecodeRequest, DecodeStats, Transcript


def _any_cancel(requests: Sequence[DecodeRequest]) -> Callable[[], bool] | None:
    """The batch's encoder is abandoned only when every request in it is cancelled."""
    cancels = [r.cancel for r in requests]
    if any(c is None for c in cancels):
        return None
    return lambda: all(c() for c in cancels)


def greedy_batch(model, enc, heads: list[list[int]], sot_index: list[int], begin: list[bool], caps: list[int],
                 vocab, cache_kw: str, cancels: list[Callable[[], bool] | None]) -> list[GreedyResult | None]:
    """Greedy decoding of rows `enc` [B, frames, d_model] after `heads` (all of one length);
    `begin[i]`: apply the begin-suppression mask at row i's first token (no forced tokens).
    None for a row whose cancel turned true."""
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    n, length = len(heads), len(heads[0])
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
    limits = [max(0, min(cap, model.config.max_target_positions - length - 1)) for cap in caps]
    out: list[list[int]] = [[] for _ in range(n)]
    logprobs: list[list[float]] = [[] for _ in range(n)]
    done, hit, cancelled = [False] * n, [False] * n, [False] * n
    nsp = [0.0] * n
    ids = torch.tensor(heads, device=enc.device)
    first = True
    decoder, proj = model.model.decoder, model.proj_out
    begin_rows = torch.tensor(begin, device=enc.device)[:, None]
    while True:
        for i, c in enumerate(cancels):
            if not done[i] and c is not None and c():
                done[i] = cancelled[i] = True
        if all(done):
            break
        hidden = decoder(input_ids=ids, encoder_hidden_states=enc, use_cache=True,
                         **{cache_kw: cache}).last_hidden_state
        if first:
            sot = hidden[torch.arange(n, device=enc.device), torch.tensor(sot_index, device=enc.device)]
            nsp = torch.softmax(proj(sot).float(), -1)[:, vocab.no_speech].tolist()
            logits = proj(hidden[:, -1]).float()
            mask = torch.where(begin_rows, vocab.begin_suppress[None], vocab.suppress[None])
        else:
            logits = proj(hidden[:, -1]).float()
            mask = vocab.suppress[None]
        logits = logits.masked_fill(mask, float("-inf"))
        lp = torch.log_softmax(logits, -1)
        picks = torch.argmax(logits, -1)
        chosen = lp.gather(1, picks[:, None])[:, 0].tolist()
        picks_list = picks.tolist()
        for i, tok in enumerate(picks_list):
            if done[i]:
                continue
            if tok == vocab.eot:
                done[i] = True
            elif len(out[i]) == limits[i]:
                done[i] = hit[i] = True
            else:
                out[i].append(tok)
                logprobs[i].append(chosen[i])
        if all(done):
            break
        ids = torch.tensor([[vocab.eot if done[i] else picks_list[i]] for i in range(n)], device=enc.device)
        first = False
    return [None if cancelled[i] else GreedyResult(out[i], nsp[i], logprobs[i], hit[i]) for i in range(n)]


def decode_batch(backend, requests: Sequence[DecodeRequest]) -> list[Transcript | None]:
    """Decode plain greedy `requests` (see `WhisperBackend.batchable`) as batches of `backend`."""
    import torch

    with torch.inference_mode():
        t0 = time.perf_counter()
        feats = torch.cat([backend.features(r.audio) for r in requests])
        try:
            enc = backend.encode(feats, _any_cancel(requests))
        except DecodeCancelled:
            return [None] * len(requests)
        encode_ms = (time.perf_counter() - t0) * 1e3
        contexts = [backend.context_tokens(r) for r in requests]
        heads = [c + backend.prefix + list(r.prefix) for c, r in zip(contexts, requests)]
        groups: dict[int, list[int]] = defaultdict(list)
        for i, head in enumerate(heads):
            groups[len(head)].append(i)
        results: list[Transcript | None] = [None] * len(requests)
        for rows in groups.values():
            t1 = time.perf_counter()
            caps = [token_cap(len(requests[i].audio) / SAMPLE_RATE, backend.options.guards) for i in rows]
            sub = enc[rows]
            if len(rows) == 1:
                (i,) = rows
                vocab = replace(backend.vocab, prefix=contexts[i] + backend.prefix)
                try:
                    decoded = [greedy_decode(backend.model, sub, vocab, list(requests[i].prefix), caps[0],
                                             backend.cache_kw, None, requests[i].cancel,
                                             sot_index=len(contexts[i]))]
                except DecodeCancelled:
                    decoded = [None]
            else:
                decoded = greedy_batch(backend.model, sub, [heads[i] for i in rows], [len(contexts[i]) for i in rows],
                                       [not requests[i].prefix for i in rows], caps, backend.vocab,
                                       backend.cache_kw, [requests[i].cancel for i in rows])
            prompted = [k for k, i in enumerate(rows) if contexts[i] and decoded[k] is not None]
            plain_nsp = backend.no_speech(sub[prompted]) if prompted else []
            backend.sync()
            decode_ms = (time.perf_counter() - t1) * 1e3
            stats = DecodeStats(batch_size=len(requests))
            for k, i in enumerate(rows):
                r = decoded[k]
                if r is None:
                    continue
                nsp = plain_nsp[prompted.index(k)] if k in prompted else r.no_speech_prob
                results[i] = backend.finish(requests[i], r.tokens, nsp, r.logprobs, r.hit_cap, encode_ms,
                                            decode_ms, stats)
    return results

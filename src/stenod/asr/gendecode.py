"""Decoding through transformers' `generate`, with the same rules and guard inputs as the plain loop.

`stenod.asr.greedy.greedy_decode` is the default decoder. This path serves the two modes that need
transformers' generation machinery: speculative decoding (`generate(assistant_model=...)`) and
plain decoding with a static KV cache, optionally with the decoder step compiled by
`torch.compile`. `GenerationMixin.generate` is called directly: Whisper's own `generate` is a
long-form wrapper that adds its own logits processors, and in speculative mode it even drops the
begin-suppression (it lets the first token be end-of-text), so its output is not comparable with
the plain loop's.

What makes both paths equivalent to the plain loop:
- the decoder prompt is the same start-of-transcript prefix plus forced tokens;
- suppression is one logits processor applying the plain loop's masks: every id above end-of-text
  and `suppress_tokens` always, `begin_suppress_tokens` too at the first free position (only when
  no tokens are forced, as in the plain loop; transformers' own processor would count forced
  tokens as the prompt and suppress at the first token after them);
- the no-speech probability is read from the main model's first decoder pass, at the
  start-of-transcript position, before any suppression;
- the token cap: `generate` may make cap + 1 tokens; the extra one only tells whether the text
  ended there (end-of-text) or the cap cut it, exactly as the plain loop's final check step;
- the average log-probability is taken from the processed (suppressed) scores of each kept token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from stenod.asr.speculative import AcceptanceStats


def suppress_processor(backend, begin_len: int):
    """A LogitsProcessor applying `backend`'s plain-loop suppression masks, the begin mask at
    sequence length `begin_len` (built lazily so that importing this module does not import
    transformers)."""
    from transformers import LogitsProcessor

    class WhisperSuppress(LogitsProcessor):
        def __init__(self, mask, begin_mask, begin_len: int):
            self.mask, self.begin_mask, self.begin_len = mask, begin_mask, begin_len

        def __call__(self, input_ids, scores):
            mask = self.begin_mask if input_ids.shape[-1] == self.begin_len else self.mask
            return scores.masked_fill(mask.to(scores.device), float("-inf"))

    return WhisperSuppress(backend.suppress_mask, backend.begin_suppress_mask, begin_len)


_SUPPRESS_CLASS_NAME = "WhisperSuppress"


def is_suppress_processor(p) -> bool:
    return type(p).__name__ == _SUPPRESS_CLASS_NAME


@dataclass
class Decoded:
    tokens: list[int]
    no_speech_prob: float
    logprobs: list[float]
    hit_cap: bool
    acceptance: AcceptanceStats | None = None  # speculative decoding: the assistant's drafts


class _FirstPassNoSpeech:
    """Forward hook on the output projection: P(no speech) at the start-of-transcript position of
    the first decoder pass (the prefill, never compiled), then it removes itself so that compiled
    decode steps run without a hook."""

    def __init__(self, module, no_speech_id: int, sot_index: int = 0):
        self.no_speech_id, self.sot_index = no_speech_id, sot_index
        self.value: float | None = None
        self.handle = module.register_forward_hook(self)

    def __call__(self, module, args, output):
        import torch

        if self.value is None:
            self.value = float(torch.softmax(output[0, self.sot_index].float(), -1)[self.no_speech_id])
        self.remove()

    def remove(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None


def static_cache(model, device):
    """A preallocated encoder-decoder KV cache: self-attention for the longest transcript, cross
    attention for a full 30 s window. Reused (reset) across calls, so a compiled decoder step sees
    the same shapes every time."""
    import copy

    from transformers.cache_utils import EncoderDecoderCache, StaticCache

    cfg = copy.deepcopy(model.config)
    # WhisperConfig maps num_hidden_layers to the *encoder* layers; the cache is the decoder's.
    cfg.num_hidden_layers = cfg.decoder_layers
    return EncoderDecoderCache(StaticCache(config=cfg, max_cache_len=cfg.max_target_positions),
                               StaticCache(config=cfg, max_cache_len=cfg.max_source_positions))


def generate_decode(backend, enc, forced: list[int], cap: int, *, features=None, assistant=None, cache=None,
                    compile_config=None, min_new_tokens: int = 0, context: list[int] | None = None,
                    beams: int = 1) -> Decoded:
    """Greedy decoding of encoder output `enc` [1, frames, d_model] with transformers' `generate`.

    `assistant` (a `speculative.Assistant`) turns on speculative decoding; `features` are the log-mel
    features, needed only when the assistant has its own encoder. `cache` is a static cache from
    `static_cache()` (reset here) and `compile_config` a transformers CompileConfig for its decoder
    step. `context`: <|startofprev|> and previous-text tokens before the prefix. `beams` > 1: beam
    search (the average log-probability is then the beam's length-normalised score). Returns the
    same quantities as the plain loop, plus the assistant's acceptance counts."""
    import torch
    from transformers import GenerationMixin, LogitsProcessorList
    from transformers.modeling_outputs import BaseModelOutput

    model = backend.model
    context = list(context or [])
    prompt = context + backend.prefix + list(forced)
    start = len(prompt)
    limit = max(0, min(cap, model.config.max_target_positions - start))
    kwargs = dict(
        encoder_outputs=BaseModelOutput(last_hidden_state=enc),
        decoder_input_ids=torch.tensor([prompt], device=enc.device),
        logits_processor=LogitsProcessorList([suppress_processor(backend, len(context) + len(backend.prefix))]),
        # Empty lists, not None: None would be refilled from the model's generation config and add
        # transformers' own suppression processors on top of ours.
        suppress_tokens=[], begin_suppress_tokens=[], forced_decoder_ids=None,
        max_new_tokens=limit + 1, min_new_tokens=min_new_tokens, do_sample=False, num_beams=beams,
        return_dict_in_generate=True, output_scores=True,
    )
    counts = None
    if assistant is not None:
        kwargs["assistant_model"] = assistant.draft
        if not assistant.shares_encoder:
            kwargs["input_features"] = features  # the assistant encodes them itself, once
    if cache is not None:
        cache.reset()
        kwargs[backend.cache_kw] = cache
        if compile_config is not None:
            kwargs["compile_config"] = compile_config
        else:
            kwargs["disable_compile"] = True
    if beams > 1:
        kwargs["length_penalty"] = 1.0
        kwargs["early_stopping"] = True
    nsp = _FirstPassNoSpeech(model.proj_out, backend.no_speech_id, len(context))
    # The model's generation config sets max_length (448); with max_new_tokens given, generate warns
    # on every call that the latter takes precedence, which is what is meant here.
    gen_log = logging.getLogger("transformers.generation.utils")
    level = gen_log.level
    gen_log.setLevel(logging.ERROR)
    try:
        if assistant is not None:
            with assistant.counting() as counts:
                out = GenerationMixin.generate(model, **kwargs)
        else:
            out = GenerationMixin.generate(model, **kwargs)
    finally:
        gen_log.setLevel(level)
        nsp.remove()
    if nsp.value is None:  # pragma: no cover - generate always runs the prefill through proj_out
        raise RuntimeError("the first decoder pass was not observed; cannot compute the no-speech probability")
    seq = out.sequences[0].tolist()
    if seq[:start] != prompt:  # pragma: no cover - generate returns the prompt in front
        raise RuntimeError("generate returned a sequence that does not start with the prompt")
    new = seq[start:]
    # Why raw ids are not compared between modes: `sequences` is the prompt, then the new tokens,
    # which end either with end-of-text (also Whisper's pad id) or, when the cap cut the text,
    # with the extra probe token (cap + 1 new tokens); the plain loop returns the text tokens
    # alone. Whisper's own `generate(assistant_model=...)` (not used here) goes further: it clears
    # `begin_suppress_tokens` ("the model should be able to return eos"), so its first token may
    # be the blank " " (220) followed by the word without its leading space, which decodes to the
    # same text as the single " word" token: one token longer, same text. Only the text tokens
    # before end-of-text and within the cap count, and what is compared is the text after the
    # guards (on the test corpus the ids agree as well).
    if backend.eot in new:
        tokens, hit_cap = new[:new.index(backend.eot)], False
    else:
        tokens, hit_cap = new[:limit], True
    logprobs: list[float] = []
    if beams > 1:
        if tokens:  # one value per token, so that their mean is the beam's normalised score
            logprobs = [float(out.sequences_scores[0])] * len(tokens)
    elif tokens:
        scores = torch.cat([s[:1].float() for s in out.scores[:len(tokens)]])
        chosen = torch.tensor(tokens, device=scores.device)[:, None]
        logprobs = torch.log_softmax(scores, -1).gather(1, chosen)[:, 0].tolist()
    return Decoded(tokens, nsp.value, logprobs, hit_cap, counts)

"""Speculative decoding: a small assistant drafts tokens, the main model verifies them in one pass.

With greedy decoding the main model keeps a draft token only where it is its own argmax after
the tokens kept so far, and adds its own token at the first disagreement, so the result is the
main model's greedy transcript while most decoder steps of the big model are replaced by one
verifying pass over several tokens. (Exact up to floating point: the verifying pass processes
several positions at once, and its rounding can differ from one-token steps in the last bits; an
argmax between two near-tied candidates could then flip. Where that happens between two
tokenizations of the same characters, e.g. "Dr" + "." against "Dr.", the ids differ and the text
does not.)

The assistant must share the main model's vocabulary and special tokens; Distil-Whisper
checkpoints do (distil-medium.en for whisper-medium.en). Distil-Whisper copies its teacher's
encoder unchanged, so when the assistant's encoder weights equal the main model's, the main
model's encoder output is reused and the assistant runs only its decoder (transformers'
decoder-only `WhisperForCausalLM` view of it). Otherwise the assistant encodes the same log-mel
features with its own encoder, once per utterance.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass

from stenod.asr.resolve import ModelError, ModelRef

log = logging.getLogger("stenod.asr")

# Published teacher/assistant pairs: the assistant used when speculative decoding is asked for
# without naming one.
DEFAULT_ASSISTANTS = {
    "openai/whisper-small.en": "distil-whisper/distil-small.en",
    "openai/whisper-medium.en": "distil-whisper/distil-medium.en",
    "openai/whisper-large-v2": "distil-whisper/distil-large-v2",
    "openai/whisper-large-v3": "distil-whisper/distil-large-v3",
}


class AssistantError(ModelError):
    """The assistant model cannot be loaded or cannot assist the main model (never a reason to
    fall back to another main model)."""


def default_assistant(model_name: str) -> str:
    try:
        return DEFAULT_ASSISTANTS[model_name]
    except KeyError:
        raise ModelError(f"speculative decoding needs an assistant model and none is known for {model_name}; "
                         "name one (--assistant-model, or assistant_model in the [model] config section), "
                         "e.g. a student from 'stenod models derive-student'") from None


@dataclass
class AcceptanceStats:
    """Draft tokens the assistant proposed and the main model accepted."""

    proposed: int = 0
    accepted: int = 0
    rounds: int = 0  # verifying passes of the main model

    @property
    def rate(self) -> float | None:
        return self.accepted / self.proposed if self.proposed else None

    def add(self, other: "AcceptanceStats") -> None:
        self.proposed += other.proposed
        self.accepted += other.accepted
        self.rounds += other.rounds


def _special_ids(model, tokenizer) -> dict:
    gc = model.generation_config
    ids = {"end-of-text": gc.eos_token_id, "start-of-transcript": gc.decoder_start_token_id,
           "no-timestamps": getattr(gc, "no_timestamps_token_id", None),
           "multilingual": bool(getattr(gc, "is_multilingual", False))}
    for name in ("<|nospeech|>", "<|nocaptions|>", "<|en|>", "<|transcribe|>"):
        i = tokenizer.convert_tokens_to_ids(name)
        ids[name] = None if i == tokenizer.unk_token_id else i
    return ids


def check_compatible(main_name: str, main_model, main_tokenizer, name: str, model, tokenizer) -> None:
    """Raise ModelError unless `model` can draft for `main_model`: same vocabulary (ids and the
    strings behind them), same special tokens, same log-mel input."""
    def refuse(reason: str):
        raise ModelError(f"{name} cannot assist {main_name} in speculative decoding: {reason}; the assistant "
                         "must use the same vocabulary and special tokens (e.g. openai/whisper-medium.en with "
                         "distil-whisper/distil-medium.en)")

    a, b = main_model.config, model.config
    if a.vocab_size != b.vocab_size:
        refuse(f"vocabulary sizes differ ({a.vocab_size} against {b.vocab_size})")
    main_vocab, vocab = main_tokenizer.get_vocab(), tokenizer.get_vocab()
    if main_vocab != vocab:
        differ = sorted({t for t, _ in set(main_vocab.items()) ^ set(vocab.items())})
        refuse(f"the tokenizers map {len(differ)} tokens differently (e.g. {differ[0]!r})")
    main_special, special = _special_ids(main_model, main_tokenizer), _special_ids(model, tokenizer)
    for key in main_special:
        if main_special[key] != special[key]:
            refuse(f"special token {key} differs ({main_special[key]} against {special[key]})")
    if a.num_mel_bins != b.num_mel_bins or a.max_source_positions != b.max_source_positions:
        refuse(f"the audio input differs ({a.num_mel_bins} against {b.num_mel_bins} mel bins)")
    if b.max_target_positions < a.max_target_positions:
        refuse(f"the assistant's decoder is shorter ({b.max_target_positions} positions)")


def encoders_equal(a, b) -> bool:
    """Whether two Whisper models have identical encoders (architecture and every weight)."""
    import torch

    ca, cb = a.config, b.config
    if any(getattr(ca, k) != getattr(cb, k) for k in ("d_model", "encoder_layers", "encoder_attention_heads",
                                                      "encoder_ffn_dim", "num_mel_bins", "max_source_positions")):
        return False
    sa, sb = a.model.encoder.state_dict(), b.model.encoder.state_dict()
    if sa.keys() != sb.keys():
        return False
    with torch.no_grad():
        return all(sa[k].shape == sb[k].shape and sa[k].dtype == sb[k].dtype
                   and torch.equal(sa[k], sb[k].to(sa[k].device)) for k in sa)


def decoder_only(model):
    """A `WhisperForCausalLM` sharing (not copying) `model`'s decoder and output projection."""
    import torch
    from transformers import WhisperForCausalLM

    config = copy.deepcopy(model.config)
    with torch.device("meta"):
        causal = WhisperForCausalLM(config)  # sets config.is_encoder_decoder = False (its own copy)
    causal.model.decoder = model.model.decoder
    causal.proj_out = model.proj_out
    causal.generation_config = copy.deepcopy(model.generation_config)
    return causal.eval()


def _candidate_generator_class():
    import torch
    from transformers import GenerationMixin
    from transformers.generation.candidate_generator import AssistedCandidateGenerator

    from stenod.asr.gendecode import is_suppress_processor
    from stenod.asr.load import cache_keyword

    cache_kw = cache_keyword()

    class CountingCandidateGenerator(AssistedCandidateGenerator):
        """transformers' assistant drafting, plus acceptance counts. The assistant runs
        `GenerationMixin.generate` (not Whisper's long-form wrapper) with only our suppression
        processor. A decoder-only assistant gets the main model's encoder output from the base
        class; a full one encodes the log-mel features (`inputs_tensor`) there, once per call."""

        def __init__(self, *args, counts: AcceptanceStats, **kwargs):
            super().__init__(*args, **kwargs)
            self.counts = counts
            self._pending: tuple[int, list[int]] | None = None
            # The main model's list also holds transformers' (empty) suppression processors, which
            # the assistant's generate would create again and warn about.
            self.logits_processor = [p for p in self.logits_processor if is_suppress_processor(p)]

        def get_candidates(self, input_ids, **kwargs):
            ids, logits = super().get_candidates(input_ids, **kwargs)
            self._pending = (input_ids.shape[1], ids[0, input_ids.shape[1]:].tolist())
            return ids, logits

        def update_candidate_strategy(self, input_ids, scores, num_matches):
            if self._pending is not None:
                start, draft = self._pending
                kept = input_ids[0, start:].tolist()
                accepted = 0
                for d, k in zip(draft, kept):
                    if d != k:
                        break
                    accepted += 1
                self.counts.proposed += len(draft)
                self.counts.accepted += accepted
                self.counts.rounds += 1
                self._pending = None
            super().update_candidate_strategy(input_ids, scores, num_matches)

        def _generate_candidates(self, generation_args):
            if self.assistant_model.config.is_encoder_decoder:
                # What Whisper's own generate does before resuming from a cache: without a decoder
                # attention mask, `generate` cannot tell which tokens the cache already holds and
                # would feed the whole sequence again (drafts from a corrupted cache).
                generation_args["generation_config"]._mask_length = generation_args[self.input_ids_key].shape[-1]
            out = GenerationMixin.generate(self.assistant_model, **generation_args, **self.assistant_kwargs)
            self.assistant_kwargs[cache_kw] = out[cache_kw]  # "cache" (5.2x) or "past_key_values" (5.1x)
            return out.sequences, torch.stack(out.scores, dim=1)

    return CountingCandidateGenerator


class Assistant:
    """The draft model of speculative decoding, on the main model's device and dtype."""

    def __init__(self, ref: ModelRef, main, share_encoder: bool | None = None):
        from stenod.asr.load import load_pretrained

        self.ref = ref
        model, processor = load_pretrained(ref, main.device, main.dtype, main.attention)
        check_compatible(main.name, main.model, main.tokenizer, ref.name, model, processor.tokenizer)
        same = encoders_equal(main.model, model)
        if share_encoder and not same:
            raise ModelError(f"{ref.name}: its encoder differs from {main.name}'s; it cannot reuse its output")
        self.shares_encoder = same if share_encoder is None else share_encoder
        # Sharing: only the decoder is kept (transformers then hands the main encoder output to it).
        # Otherwise the full model drafts and encodes the features itself, once per utterance.
        self.draft = decoder_only(model) if self.shares_encoder else model
        self.decoder_layers = model.config.decoder_layers
        self.total = AcceptanceStats()
        self._main = main.model
        self._generator_cls = _candidate_generator_class()
        log.debug("assistant %s: %d decoder layers, %s encoder", ref.name, self.decoder_layers,
                  "shared" if self.shares_encoder else "own")

    @property
    def name(self) -> str:
        return self.ref.name

    def reset_totals(self) -> None:
        self.total = AcceptanceStats()

    @contextlib.contextmanager
    def counting(self):
        """Within the block, the main model's speculative `generate` drafts with a counting
        candidate generator; yields the counts of this block (also added to `total`)."""
        counts = AcceptanceStats()
        main = self._main
        cls = self._generator_cls

        def make_generator(generation_config, input_ids, inputs_tensor, logits_processor, model_kwargs,
                           assistant_model=None, target_tokenizer=None, assistant_tokenizer=None):
            if assistant_model is not self.draft:  # pragma: no cover - only our own calls come here
                raise RuntimeError("unexpected assistant model")
            return cls(input_ids=input_ids, assistant_model=assistant_model, generation_config=generation_config,
                       model_kwargs=model_kwargs, inputs_tensor=inputs_tensor, logits_processor=logits_processor,
                       counts=counts)

        main._get_candidate_generator = make_generator  # instance attribute: this call only
        try:
            yield counts
        finally:
            del main._get_candidate_generator
            self.total.add(counts)

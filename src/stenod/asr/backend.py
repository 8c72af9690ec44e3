"""The transformers Whisper backend: load a model, decode 16 kHz audio into a guarded Transcript.

Plain decoding is a greedy loop written here over the model's encoder and cached decoder, so the
decoder's first pass yields both the no-speech probability (at the start-of-transcript position,
as in OpenAI's Whisper) and the first token, every step's log-probability is at hand for the
guards, and the per-token overhead stays small.

Speculative decoding (an assistant model drafts, this model verifies) and plain decoding with a
static KV cache and a compiled decoder step go through transformers' `generate` instead, with the
same prompt, suppression and guard inputs (see `gendecode.py` and `speculative.py`).

`transcribe_batch` (the `stenod.asr.api.Backend` contract) decodes several plain greedy requests as
one batch (`batch.py`); beam search, speculative and static-cache requests run one by one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from stenod import SAMPLE_RATE
from stenod.asr.api import BackendStatus
from stenod.asr.greedy import Vocab, greedy_decode
from stenod.asr.guards import judge, token_cap
from stenod.asr.load import cache_keyword, load_pretrained, pick_attention, pick_device, pick_dtype
from stenod.asr.options import BackendOptions
from stenod.asr.resolve import BUNDLED_DEFAULT, DEFAULT_MODEL, ModelError, ModelRef, resolve
from stenod.types import DecodeCancelled, DecodeRequest, DecodeStats, Transcript

log = logging.getLogger("stenod.asr")
WINDOW_S = 30.0


class WhisperBackend:
    """Owns one Whisper model on one device. Not thread-safe: one inference worker uses it."""

    def __init__(self, ref: ModelRef, options: BackendOptions = BackendOptions()):
        import torch

        if options.threads > 0:
            torch.set_num_threads(options.threads)
        self.ref, self.options = ref, options
        self.device = pick_device(options.device)
        self.dtype = pick_dtype(options.dtype, self.device)
        self.attention = pick_attention(options.attention, self.device, self.dtype)
        self.model, self.processor = load_pretrained(ref, self.device, self.dtype, self.attention)
        self.tokenizer = self.processor.tokenizer
        self.cache_kw = cache_keyword()
        self._setup_tokens()
        self.assistant = None
        self._static_cache = self._compile_config = None
        if options.decoding == "speculative":
            if options.static_cache or options.compile:
                # The verifying pass covers a varying number of draft tokens: one compiled graph per
                # length, and a static cache would have to be cropped on every rejection.
                log.warning("static_cache and compile apply to plain decoding only; speculative decoding "
                            "runs with a dynamic cache, uncompiled")
            self._setup_assistant(options.assistant)
        elif options.static_cache or options.compile:
            self._setup_static(options.compile)

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def mode(self) -> str:
        """The decoding mode: plain or speculative."""
        return "plain" if self.assistant is None else "speculative"

    def _setup_assistant(self, name: str | None) -> None:
        from stenod.asr.speculative import Assistant, AssistantError, default_assistant

        try:
            self.assistant = Assistant(resolve(name or default_assistant(self.name)), self)
        except ModelError as exc:
            raise AssistantError(str(exc)) from None

    def _setup_static(self, compile: bool) -> None:
        from stenod.asr.gendecode import static_cache

        self._static_cache = static_cache(self.model, self.device)
        if compile:
            from transformers import CompileConfig

            cuda = self.device.startswith("cuda")
            # CUDA graphs ("reduce-overhead") remove the per-step launch overhead on GPU; on CPU
            # inductor's default mode is the one that exists. Compiling on CPU is on request only.
            self._compile_config = CompileConfig(fullgraph=False, mode="reduce-overhead" if cuda else "default")
            self._compile_config._compile_all_devices = True

    def status(self) -> BackendStatus:
        """How this backend decodes, with the assistant's cumulative acceptance (for `status`)."""
        st = BackendStatus(mode=self.mode, device=self.device, dtype=str(self.dtype).replace("torch.", ""),
                           attention=self.attention, static_cache=self._static_cache is not None,
                           compile=self._compile_config is not None, batching=self.mode == "plain"
                           and self._static_cache is None)
        if self.assistant is None:
            return st
        total = self.assistant.total
        return replace(st, assistant_model=self.assistant.name,
                       assistant_encoder="shared" if self.assistant.shares_encoder else "own",
                       assistant_proposed=total.proposed, assistant_accepted=total.accepted,
                       assistant_rounds=total.rounds)

    def _setup_tokens(self) -> None:
        import torch

        gc, tok = self.model.generation_config, self.tokenizer
        self.eot = int(gc.eos_token_id if isinstance(gc.eos_token_id, int) else gc.eos_token_id[0])
        sot = int(gc.decoder_start_token_id)
        prefix = [sot]
        if getattr(gc, "is_multilingual", False):
            prefix += [int(gc.lang_to_id["<|en|>"]), int(gc.task_to_id["transcribe"])]
        prefix.append(int(gc.no_timestamps_token_id))
        self.prefix = prefix
        prev = tok.convert_tokens_to_ids("<|startofprev|>")
        self.prompt_start = prev if isinstance(prev, int) and prev != tok.unk_token_id else None
        nospeech = [tok.convert_tokens_to_ids(t) for t in ("<|nospeech|>", "<|nocaptions|>")]
        nospeech = [i for i in nospeech if isinstance(i, int) and i != tok.unk_token_id and i > self.eot]
        if not nospeech:
            raise ModelError(f"{self.name}: tokenizer has no no-speech token; not a Whisper tokenizer?")
        self.no_speech_id = nospeech[0]
        vocab = self.model.config.vocab_size
        # Only text tokens and end-of-text may be generated: no control or timestamp tokens.
        suppress = set(range(self.eot + 1, vocab)) | {int(i) for i in (gc.suppress_tokens or []) if int(i) < vocab}
        mask = torch.zeros(vocab, dtype=torch.bool)
        mask[sorted(suppress)] = True
        self.suppress_mask = mask.to(self.device)
        begin = mask.clone()
        begin[[int(i) for i in (gc.begin_suppress_tokens or [])]] = True
        self.begin_suppress_mask = begin.to(self.device)
        self.vocab = Vocab(self.prefix, self.eot, self.no_speech_id, self.suppress_mask, self.begin_suppress_mask)
        self._cancel = None
        for layer in self.model.model.encoder.layers:  # the encoder is half a decode: make it abortable
            layer.register_forward_pre_hook(self._check_cancel)

    def _check_cancel(self, module, args) -> None:
        if self._cancel is not None and self._cancel():
            raise DecodeCancelled()

    def features(self, audio: np.ndarray):
        fe = self.processor.feature_extractor
        feats = fe(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        return feats.to(self.device, self.dtype)

    def warm_up(self) -> None:
        """One decode of a short silence so the first real utterance does not pay for lazy init;
        with `compile`, also compiles the decoder step and records its CUDA graphs."""
        self.transcribe(np.zeros(SAMPLE_RATE, dtype=np.float32))
        if self.assistant is not None:
            self.assistant.reset_totals()  # acceptance statistics are about real speech
        if self._compile_config is not None:
            import torch

            from stenod.asr.gendecode import generate_decode

            with torch.inference_mode():
                enc = self.model.model.encoder(self.features(np.zeros(SAMPLE_RATE, dtype=np.float32))).last_hidden_state
                for _ in range(3):  # compile, record the graph, replay it
                    generate_decode(self, enc, [], 8, cache=self._static_cache, compile_config=self._compile_config,
                                    min_new_tokens=9)
            self.sync()

    def encode_prompt(self, vocabulary: tuple[str, ...] | list[str], context: str, max_tokens: int) -> list[int]:
        """Prompt tokens for :meth:`transcribe`: the vocabulary words (always kept), then the end
        of ``context`` (previous text) within ``max_tokens`` in all."""
        if max_tokens <= 0 or self.prompt_start is None:
            return []
        head = self.tokenizer.encode(" " + ", ".join(vocabulary) + ".", add_special_tokens=False) if vocabulary else []
        head = head[:max_tokens]
        tail = self.tokenizer.encode(" " + context.strip(), add_special_tokens=False) if context.strip() else []
        room = max_tokens - len(head)
        return head + (tail[-room:] if room > 0 else [])

    def transcribe(self, audio: np.ndarray, prefix_tokens: list[int] | None = None, *,
                   draft: list[int] | None = None, cancel=None, prompt: list[int] | None = None,
                   beams: int = 1) -> Transcript:
        """One request (see `DecodeRequest` for the arguments); raises DecodeCancelled when
        `cancel()` turned true."""
        req = DecodeRequest(np.asarray(audio, dtype=np.float32), tuple(prefix_tokens or ()), tuple(prompt or ()),
                            tuple(draft or ()), beams, cancel)
        (t,) = self.transcribe_batch([req])
        if t is None:
            raise DecodeCancelled()
        return t

    def batchable(self, req: DecodeRequest) -> bool:
        """Whether `req` can join a batch: plain greedy decoding with the dynamic cache."""
        return self.assistant is None and self._static_cache is None and req.beams == 1

    def transcribe_batch(self, requests: Sequence[DecodeRequest]) -> list[Transcript | None]:
        """Decode each request; None for one whose `cancel()` turned true. Two or more requests that
        can be batched (`batchable`) run as one batch: one encoder call over their padded windows,
        one batched greedy decoder per prefix length (`batch.py`); the others, one by one."""
        for req in requests:
            if len(req.audio) / SAMPLE_RATE > WINDOW_S:
                raise ValueError(f"transcribe() takes at most {WINDOW_S:.0f} s of audio, "
                                 f"got {len(req.audio) / SAMPLE_RATE:.1f} s")
        together = [i for i, r in enumerate(requests) if self.batchable(r)]
        results: list[Transcript | None] = [None] * len(requests)
        if len(together) > 1:
            from stenod.asr.batch import decode_batch

            for i, t in zip(together, decode_batch(self, [requests[i] for i in together])):
                results[i] = t
        else:
            together = []
        for i, req in enumerate(requests):
            if i not in together:
                try:
                    results[i] = self._decode_one(req)
                except DecodeCancelled:
                    results[i] = None
        return results

    def context_tokens(self, req: DecodeRequest) -> list[int]:
        """<|startofprev|> and the prompt, or nothing."""
        return [self.prompt_start, *req.prompt] if req.prompt and self.prompt_start is not None else []

    def finish(self, req: DecodeRequest, tokens: list[int], nsp: float, logprobs: list[float], hit_cap: bool,
               encode_ms: float, decode_ms: float, stats: DecodeStats) -> Transcript:
        """Apply the guards to one decode and build its Transcript."""
        forced = list(req.prefix)
        avg_lp = float(np.mean(logprobs)) if logprobs else 0.0
        verdict = judge(forced + tokens, nsp, avg_lp, hit_cap, self.decode, self.options.guards)
        text = self.decode(verdict.tokens) if verdict.keep else ""
        kept = tuple(logprobs[:max(0, len(verdict.tokens) - len(forced))]) if verdict.keep else ()
        return Transcript(text=text, tokens=tuple(verdict.tokens), no_speech_prob=nsp, avg_logprob=avg_lp,
                          token_logprobs=kept, guard=verdict.reason, audio_s=len(req.audio) / SAMPLE_RATE,
                          encode_ms=encode_ms, decode_ms=decode_ms, stats=stats)

    def _decode_one(self, req: DecodeRequest) -> Transcript:
        import torch
        from transformers.cache_utils import DynamicCache

        forced, draft, cancel = list(req.prefix), list(req.draft), req.cancel
        context = self.context_tokens(req)
        vocab = replace(self.vocab, prefix=context + self.prefix) if context else self.vocab
        cap = token_cap(len(req.audio) / SAMPLE_RATE, self.options.guards)
        stats = DecodeStats()
        with torch.inference_mode():
            t0 = time.perf_counter()
            feats = self.features(req.audio)
            enc = self.encode(feats, cancel)
            t1 = time.perf_counter()
            # The guards judge the audio, not the prompt: previous text makes Whisper more willing to
            # read words into noise (P(no speech) drops), so with a prompt it is read in a pass of its
            # own without it, whose cross-attention keys and values the greedy decode then reuses.
            cross = DynamicCache() if context else None
            plain_nsp = self.no_speech(enc, cross)[0] if context else None
            if self.batchable(req):
                r = greedy_decode(self.model, enc, vocab, forced, cap, self.cache_kw, draft, cancel,
                                  sot_index=len(context), cross=cross)
                tokens, nsp, logprobs, hit_cap = r.tokens, r.no_speech_prob, r.logprobs, r.hit_cap
                if draft:
                    stats = DecodeStats(draft_tokens=len(draft), draft_accepted=r.draft_accepted)
            else:
                if cancel is not None and cancel():
                    raise DecodeCancelled()
                tokens, nsp, logprobs, hit_cap, stats = self._generate(enc, feats, forced, cap, context, req.beams)
            if plain_nsp is not None:
                nsp = plain_nsp
            self.sync()
            t2 = time.perf_counter()
        return self.finish(req, tokens, nsp, logprobs, hit_cap, (t1 - t0) * 1e3, (t2 - t1) * 1e3, stats)

    def encode(self, feats, cancel=None):
        """The encoder output of log-mel `feats` [B, mels, frames]; `cancel()` is polled between layers."""
        self._cancel = cancel
        try:
            enc = self.model.model.encoder(feats).last_hidden_state
        finally:
            self._cancel = None
        self.sync()
        return enc

    def no_speech(self, enc, cross=None) -> list[float]:
        """P(no speech) at the start-of-transcript position of the plain prefix, for each row of
        encoder output `enc` (one decoder pass). `cross`: an empty DynamicCache that keeps the
        pass's cross-attention keys and values of `enc` for a later decode over the same rows."""
        import torch
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        ids = torch.tensor([self.prefix] * enc.shape[0], device=enc.device)
        kw = {} if cross is None else {"use_cache": True, self.cache_kw: EncoderDecoderCache(DynamicCache(), cross)}
        hidden = self.model.model.decoder(input_ids=ids, encoder_hidden_states=enc, **kw).last_hidden_state[:, 0]
        return torch.softmax(self.model.proj_out(hidden).float(), -1)[:, self.no_speech_id].tolist()

    def decode(self, tokens) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True).strip()

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    def _generate(self, enc, feats, forced: list[int], cap: int, context: list[int], beams: int):
        """Beam search, speculative or static-cache decoding through transformers' generate
        (gendecode.py). Beam search runs without assistant and with a dynamic cache."""
        from stenod.asr.gendecode import generate_decode

        if beams > 1:
            d = generate_decode(self, enc, forced, cap, context=context, beams=beams)
        else:
            d = generate_decode(self, enc, forced, cap, features=feats, assistant=self.assistant,
                                cache=self._static_cache, compile_config=self._compile_config, context=context)
        stats = DecodeStats() if d.acceptance is None else DecodeStats(
            assistant_proposed=d.acceptance.proposed, assistant_accepted=d.acceptance.accepted,
            assistant_rounds=d.acceptance.rounds)
        return d.tokens, d.no_speech_prob, d.logprobs, d.hit_cap, stats


def load_backend(name: str | None, options: BackendOptions = BackendOptions()) -> WhisperBackend:
    """Load `name` (None = the default model). Only the default falls back to the bundled model,
    with one warning line; a model the user named explicitly fails with a clear ModelError, and so
    does an assistant model for speculative decoding that cannot be loaded or cannot assist."""
    from stenod.asr.speculative import AssistantError

    explicit = name is not None
    try:
        return WhisperBackend(resolve(name or DEFAULT_MODEL), options)
    except AssistantError:
        raise
    except ModelError as exc:
        if explicit:
            raise
        log.warning("%s; falling back to the bundled model (%s). To use %s, run stenod once with network "
                    "access (it is cached afterwards) or pass --model DIR with a local copy.",
                    exc, BUNDLED_DEFAULT, DEFAULT_MODEL)
        if options.decoding == "speculative" and options.assistant is None:
            log.warning("speculative decoding is off: no assistant model is known for %s", BUNDLED_DEFAULT)
            options = replace(options, decoding="plain")
        return WhisperBackend(resolve(BUNDLED_DEFAULT), options)

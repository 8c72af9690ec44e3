"""The transformers Whisper backend: load a model, decode 16 kHz audio into a guarded Transcript.

Plain decoding is a greedy loop written here over the model's encoder and cached decoder, so the
decoder's first pass yields both the no-speech probability (at the start-of-transcript position,
as in OpenAI's Whisper) and the first token, every step's log-probability is at hand for the
guards, and the per-token overhead stays small.

Speculative decoding (an assistant model drafts, this model verifies) and plain decoding with a
static KV cache and a compiled decoder step go through transformers' `generate` instead, with the
same prompt, suppression and guard inputs (see `gendecode.py` and `speculative.py`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from stenod import SAMPLE_RATE
from stenod.asr.greedy import Vocab, greedy_decode
from stenod.asr.guards import GuardConfig, judge, token_cap
from stenod.asr.resolve import BUNDLED_DEFAULT, DEFAULT_MODEL, ModelError, ModelRef, hub_reachable, resolve
from stenod.types import DecodeCancelled, Transcript

log = logging.getLogger("stenod.asr")
WINDOW_S = 30.0


def _cache_keyword() -> str:
    """transformers renamed the decoder's `past_key_values` argument to `cache` (5.x)."""
    import inspect

    from transformers.models.whisper.modeling_whisper import WhisperDecoder

    return "cache" if "cache" in inspect.signature(WhisperDecoder.forward).parameters else "past_key_values"


DECODINGS = ("plain", "speculative")
DTYPES = ("auto", "float32", "float16", "bfloat16")
ATTENTIONS = ("sdpa", "eager", "flash_attention_2")


@dataclass(frozen=True)
class BackendOptions:
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (cuda: float16, cpu: float32) | float32 | float16 | bfloat16 (where supported)
    threads: int = 0  # CPU threads for torch; 0 = torch's default
    guards: GuardConfig = GuardConfig()
    decoding: str = "plain"  # plain (one model) | speculative (an assistant drafts, the model verifies)
    assistant: str | None = None  # speculative: the assistant model; None = the published pair of the model
    attention: str = "sdpa"  # sdpa (PyTorch fused kernels) | eager | flash_attention_2 (needs flash-attn, CUDA)
    compile: bool = False  # torch.compile the decoder step (plain decoding only; implies static_cache)
    static_cache: bool = False  # preallocated KV cache (plain decoding only)

    def __post_init__(self) -> None:
        for name, allowed in (("decoding", DECODINGS), ("dtype", DTYPES), ("attention", ATTENTIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.assistant is not None and not self.assistant.strip():
            raise ValueError("assistant must not be empty (None for the default pairing)")

    @classmethod
    def from_config(cls, model, **overrides) -> "BackendOptions":
        """Options from the `[model]` section of the configuration (`stenod.config.ModelConfig`)."""
        return cls(**{"device": model.device, "dtype": model.dtype, "decoding": model.decoding,
                      "assistant": model.assistant_model, "attention": model.attention,
                      "compile": model.compile, "static_cache": model.static_cache, **overrides})


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


def _load_pretrained(ref: ModelRef, device: str, dtype, attention: str = "sdpa"):
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
        self.model, self.processor = _load_pretrained(ref, self.device, self.dtype, self.attention)
        self.tokenizer = self.processor.tokenizer
        self._cache_kw = _cache_keyword()
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

    @property
    def assistant_name(self) -> str | None:
        return None if self.assistant is None else self.assistant.name

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

    def status(self) -> dict:
        """How this backend decodes, with the assistant's cumulative acceptance (for `status`)."""
        out = {"mode": self.mode, "device": self.device, "dtype": str(self.dtype).replace("torch.", ""),
               "attention": self.attention, "static_cache": self._static_cache is not None,
               "compile": self._compile_config is not None}
        if self.assistant is not None:
            out["assistant_model"] = self.assistant.name
            out["assistant_encoder"] = "shared" if self.assistant.shares_encoder else "own"
            out.update(self.assistant.total.as_extra())
        return out

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
            self._sync()

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
        """Decode up to 30 s of 16 kHz mono float32 audio. `prefix_tokens` are forced text tokens
        (an already committed beginning) that decoding continues from. `draft`: tokens this decode
        probably repeats (the previous decode of the same growing utterance), verified in one pass
        (plain greedy decoding only; the result is unchanged). `cancel()`: polled between encoder
        layers and decoder passes; when true, the decode is abandoned with DecodeCancelled.
        `prompt`: previous-text tokens (from :meth:`encode_prompt`), given to Whisper after
        <|startofprev|>. `beams` > 1: beam search (through transformers' generate)."""
        import torch

        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE
        if duration > WINDOW_S:
            raise ValueError(f"transcribe() takes at most {WINDOW_S:.0f} s of audio, got {duration:.1f} s")
        forced = list(prefix_tokens or [])
        if beams < 1:
            raise ValueError(f"beams must be >= 1, got {beams}")
        context = [self.prompt_start, *prompt] if prompt and self.prompt_start is not None else []
        vocab = replace(self.vocab, prefix=context + self.prefix) if context else self.vocab
        cap = token_cap(duration, self.options.guards)
        extra: dict = {}
        with torch.inference_mode():
            t0 = time.perf_counter()
            feats = self.features(audio)
            self._cancel = cancel
            try:
                enc = self.model.model.encoder(feats).last_hidden_state
            finally:
                self._cancel = None
            self._sync()
            t1 = time.perf_counter()
            if self.assistant is None and self._static_cache is None and beams == 1:
                r = greedy_decode(self.model, enc, vocab, forced, cap, self._cache_kw, draft, cancel,
                                  sot_index=len(context))
                tokens, nsp, logprobs, hit_cap = r.tokens, r.no_speech_prob, r.logprobs, r.hit_cap
                if draft:
                    extra = {"draft_tokens": len(draft), "draft_accepted": r.draft_accepted}
            else:
                if cancel is not None and cancel():
                    raise DecodeCancelled()
                tokens, nsp, logprobs, hit_cap, extra = self._generate(enc, feats, forced, cap, context, beams)
            if context:
                # The guards judge the audio, not the prompt: previous text makes Whisper more willing
                # to read words into noise (P(no speech) drops), so it is read without the prompt.
                nsp = self._no_speech(enc)
            self._sync()
            t2 = time.perf_counter()
        avg_lp = float(np.mean(logprobs)) if logprobs else 0.0
        verdict = judge(forced + tokens, nsp, avg_lp, hit_cap, self.decode, self.options.guards)
        text = self.decode(verdict.tokens) if verdict.keep else ""
        kept = tuple(logprobs[:max(0, len(verdict.tokens) - len(forced))]) if verdict.keep else ()
        return Transcript(text=text, tokens=tuple(verdict.tokens), no_speech_prob=nsp, avg_logprob=avg_lp,
                          token_logprobs=kept, guard=verdict.reason, audio_s=duration, encode_ms=(t1 - t0) * 1e3,
                          decode_ms=(t2 - t1) * 1e3, extra=extra)

    def _no_speech(self, enc) -> float:
        """P(no speech) at the start-of-transcript position of the plain prefix (one decoder pass)."""
        import torch

        hidden = self.model.model.decoder(input_ids=torch.tensor([self.prefix], device=enc.device),
                                          encoder_hidden_states=enc).last_hidden_state[0, 0]
        return float(torch.softmax(self.model.proj_out(hidden).float(), -1)[self.no_speech_id])

    def decode(self, tokens) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True).strip()

    def _sync(self) -> None:
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
        return d.tokens, d.no_speech_prob, d.logprobs, d.hit_cap, d.extra


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

"""The transformers Whisper backend: load a model, decode 16 kHz audio into a guarded Transcript.

Plain decoding is a greedy loop written here over the model's encoder and cached decoder, so the
decoder's first pass yields both the no-speech probability (at the start-of-transcript position,
as in OpenAI's Whisper) and the first token, every step's log-probability is at hand for the
guards, and the per-token overhead stays small.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from stenod import SAMPLE_RATE
from stenod.asr.guards import GuardConfig, judge, token_cap
from stenod.asr.resolve import BUNDLED_DEFAULT, DEFAULT_MODEL, ModelError, ModelRef, hub_reachable, resolve
from stenod.types import Transcript

log = logging.getLogger("stenod.asr")
WINDOW_S = 30.0


def _cache_keyword() -> str:
    """transformers renamed the decoder's `past_key_values` argument to `cache` (5.x)."""
    import inspect

    from transformers.models.whisper.modeling_whisper import WhisperDecoder

    return "cache" if "cache" in inspect.signature(WhisperDecoder.forward).parameters else "past_key_values"


@dataclass(frozen=True)
class BackendOptions:
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (cuda: float16, cpu: float32) | float32 | float16 | bfloat16
    threads: int = 0  # CPU threads for torch; 0 = torch's default
    guards: GuardConfig = GuardConfig()


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
    return table[dtype]


def _load_pretrained(ref: ModelRef, device: str, dtype):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    def load(local_only: bool):
        processor = WhisperProcessor.from_pretrained(ref.location, local_files_only=local_only)
        model = WhisperForConditionalGeneration.from_pretrained(
            ref.location, local_files_only=local_only, dtype=dtype, attn_implementation="sdpa")
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
        self.model, self.processor = _load_pretrained(ref, self.device, self.dtype)
        self.tokenizer = self.processor.tokenizer
        self._cache_kw = _cache_keyword()
        self._setup_tokens()

    @property
    def name(self) -> str:
        return self.ref.name

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

    def features(self, audio: np.ndarray):
        fe = self.processor.feature_extractor
        feats = fe(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        return feats.to(self.device, self.dtype)

    def warm_up(self) -> None:
        """One decode of a short silence so the first real utterance does not pay for lazy init."""
        self.transcribe(np.zeros(SAMPLE_RATE, dtype=np.float32))

    def transcribe(self, audio: np.ndarray, prefix_tokens: list[int] | None = None) -> Transcript:
        """Decode up to 30 s of 16 kHz mono float32 audio. `prefix_tokens` are forced text tokens
        (an already committed beginning) that decoding continues from."""
        import torch

        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE
        if duration > WINDOW_S:
            raise ValueError(f"transcribe() takes at most {WINDOW_S:.0f} s of audio, got {duration:.1f} s")
        forced = list(prefix_tokens or [])
        cap = token_cap(duration, self.options.guards)
        with torch.inference_mode():
            t0 = time.perf_counter()
            enc = self.model.model.encoder(self.features(audio)).last_hidden_state
            self._sync()
            t1 = time.perf_counter()
            tokens, nsp, logprobs, hit_cap = self._greedy(enc, forced, cap)
            self._sync()
            t2 = time.perf_counter()
        avg_lp = float(np.mean(logprobs)) if logprobs else 0.0
        verdict = judge(forced + tokens, nsp, avg_lp, hit_cap, self.decode, self.options.guards)
        text = self.decode(verdict.tokens) if verdict.keep else ""
        return Transcript(text=text, tokens=tuple(verdict.tokens), no_speech_prob=nsp, avg_logprob=avg_lp,
                          guard=verdict.reason, audio_s=duration, encode_ms=(t1 - t0) * 1e3,
                          decode_ms=(t2 - t1) * 1e3)

    def decode(self, tokens) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True).strip()

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    def _greedy(self, enc, forced: list[int], cap: int):
        import torch
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        decoder, proj = self.model.model.decoder, self.model.proj_out
        cache = {self._cache_kw: EncoderDecoderCache(DynamicCache(), DynamicCache())}
        ids = torch.tensor([self.prefix + forced], device=self.device)
        out: list[int] = []
        logprobs: list[float] = []
        nsp = 0.0
        limit = min(cap, self.model.config.max_target_positions - len(self.prefix) - len(forced))
        for step in range(max(0, limit) + 1):
            hidden = decoder(input_ids=ids, encoder_hidden_states=enc, use_cache=True, **cache).last_hidden_state
            if step == 0:
                first = proj(hidden[0, 0]).float()
                nsp = float(torch.softmax(first, -1)[self.no_speech_id])
            logits = proj(hidden[0, -1]).float()
            mask = self.begin_suppress_mask if step == 0 and not forced else self.suppress_mask
            logits = logits.masked_fill(mask, float("-inf"))
            lp = torch.log_softmax(logits, -1)
            nxt = int(torch.argmax(logits))
            if nxt == self.eot:
                return out, nsp, logprobs, False
            if step == limit:
                break
            out.append(nxt)
            logprobs.append(float(lp[nxt]))
            ids = torch.tensor([[nxt]], device=self.device)
        return out, nsp, logprobs, True


def load_backend(name: str | None, options: BackendOptions = BackendOptions()) -> WhisperBackend:
    """Load `name` (None = the default model). Only the default falls back to the bundled model,
    with one warning line; a model the user named explicitly fails with a clear ModelError."""
    explicit = name is not None
    try:
        return WhisperBackend(resolve(name or DEFAULT_MODEL), options)
    except ModelError as exc:
        if explicit:
            raise
        log.warning("%s; falling back to the bundled model (%s). To use %s, run stenod once with network "
                    "access (it is cached afterwards) or pass --model DIR with a local copy.",
                    exc, BUNDLED_DEFAULT, DEFAULT_MODEL)
        return WhisperBackend(resolve(BUNDLED_DEFAULT), options)

"""GPU micro-benchmark of the Whisper architectures behind speculative decoding.

Model weights cannot be downloaded where the GPU is, and speed does not depend on them, so the
exact architectures are built from their configurations with random weights:
distil-medium.en (d_model 1024, 24 encoder layers, 2 decoder layers, 16 heads, FFN 4096,
vocabulary 51864, 80 mel bins) and whisper-medium.en (the same with 24 decoder layers). For each
model it times, in fp16 on CUDA:

- the encoder, per 30 s window (the encoder always sees a full window);
- the decoder per token: one-token steps over a KV cache (prompt of 3 tokens, then a forced,
  fixed number of tokens, so no end-of-text can cut it short), eager and `torch.compile`d (a
  static cache and CUDA graphs, as `BackendOptions(compile=True)` runs it);
- the main model's verifying pass: one forward over k = 2..9 new tokens at once (eager, the way
  transformers verifies drafts).

From the measured costs it models the latency of one utterance of N tokens (see `model_latency`):

    plain        T = E_main + N * d_main
    distil alone T = E_asst + N * d_asst
    speculative  T = E_main + R * (g * d_asst + v_main(g + 1)),   R = N / A,
                 A = (1 - a^(g+1)) / (1 - a)     (expected tokens gained per verifying pass)

where E is the encoder time, d the one-token decoder step, v(k) the k-token verifying pass, g the
number of draft tokens per round and a the probability that the assistant's token is accepted
(independent per token, as in Leviathan et al. 2023). The assistant shares the main model's
encoder (Distil-Whisper copies it), so speculative decoding runs one encoder.

Run `stenod models gpubench` (or `python -m stenod.asr.gpubench`); `--size tiny --device cpu`
runs the same code on scaled-down architectures, which is what the test suite does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

# Architectures, as in the checkpoints' config.json.
MEDIUM = dict(d_model=1024, encoder_layers=24, encoder_attention_heads=16, decoder_attention_heads=16,
              encoder_ffn_dim=4096, decoder_ffn_dim=4096, vocab_size=51864, num_mel_bins=80,
              max_source_positions=1500, max_target_positions=448)
ARCHITECTURES = {
    "full": {"whisper-medium.en": {**MEDIUM, "decoder_layers": 24},
             "distil-medium.en": {**MEDIUM, "decoder_layers": 2}},
    # Same code path on a CPU in seconds: a real 30 s window and vocabulary, tiny layers.
    "tiny": {"whisper-medium.en": {**MEDIUM, "d_model": 64, "encoder_layers": 2, "decoder_layers": 4,
                                   "encoder_attention_heads": 2, "decoder_attention_heads": 2,
                                   "encoder_ffn_dim": 128, "decoder_ffn_dim": 128},
             "distil-medium.en": {**MEDIUM, "d_model": 64, "encoder_layers": 2, "decoder_layers": 1,
                                  "encoder_attention_heads": 2, "decoder_attention_heads": 2,
                                  "encoder_ffn_dim": 128, "decoder_ffn_dim": 128}},
}
MAIN, ASSISTANT = "whisper-medium.en", "distil-medium.en"
# Published estimate of how often the Distil-Whisper assistant's token is the main model's: "70-80 %
# of tokens" (Hugging Face, "Speculative Decoding for 2x Faster Whisper Inference", Dec 2023).
PUBLISHED_ACCEPTANCE = (0.7, 0.8)
PROMPT = [50257, 50362, 50362]  # start-of-transcript, no-timestamps (+1), as long as a short prompt
VERIFY_SIZES = (2, 3, 4, 5, 6, 7, 8, 9)


@dataclass
class ModelTiming:
    name: str
    params_m: float
    encoder_ms: float  # per 30 s window
    decoder_ms_per_token: dict = field(default_factory=dict)  # mode (eager/compiled) -> ms
    verify_ms: dict = field(default_factory=dict)  # k new tokens in one pass -> ms (eager)


@dataclass
class BenchResult:
    device: str
    device_name: str
    dtype: str
    size: str
    tokens: int
    torch_version: str
    transformers_version: str
    models: dict = field(default_factory=dict)  # name -> ModelTiming
    notes: list = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "BenchResult":
        """The inverse of `to_json` (JSON object keys are strings: the verify sizes become ints again)."""
        d = json.loads(text)
        d["models"] = {name: ModelTiming(**{**m, "verify_ms": {int(k): v for k, v in m["verify_ms"].items()}})
                       for name, m in d["models"].items()}
        return cls(**d)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def _timed(fn, device: str, repeats: int, warmup: int = 2) -> float:
    """Median wall time of `fn()` in ms, synchronising the device around each call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def build_model(arch: dict, device: str, dtype, attention: str = "sdpa"):
    """A WhisperForConditionalGeneration with random weights and the given architecture."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(**arch, decoder_start_token_id=50257, eos_token_id=50256, pad_token_id=50256,
                           bos_token_id=50256)
    config._attn_implementation = attention
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    return model.to(device=device, dtype=dtype).eval()


def _decode_steps(model, enc, cache, tokens: int, step) -> None:
    """Prefill the prompt, then `tokens` forced one-token steps (token ids fixed, not argmax)."""
    import torch

    from stenod.asr.load import cache_keyword

    ids = torch.tensor([PROMPT], device=enc.device)
    kw = cache_keyword()
    model.model.decoder(input_ids=ids, encoder_hidden_states=enc, use_cache=True, **{kw: cache})
    nxt = torch.tensor([[1169]], device=enc.device)  # " the"
    for _ in range(tokens):
        step(nxt)


def time_model(name: str, arch: dict, device: str, dtype, tokens: int, compile: bool, repeats: int,
               compile_backend: str = "inductor") -> ModelTiming:
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    from stenod.asr.gendecode import static_cache
    from stenod.asr.load import cache_keyword

    kw = cache_keyword()  # transformers 5.1x calls the decoder's cache `past_key_values`
    model = build_model(arch, device, dtype)
    decoder, proj = model.model.decoder, model.proj_out
    params = sum(p.numel() for p in model.parameters()) / 1e6
    feats = torch.randn(1, arch["num_mel_bins"], 2 * arch["max_source_positions"], device=device, dtype=dtype)
    with torch.inference_mode():
        encoder_ms = _timed(lambda: model.model.encoder(feats), device, repeats)
        enc = model.model.encoder(feats).last_hidden_state
        timing = ModelTiming(name, round(params, 1), round(encoder_ms, 3))

        def eager_run():
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())

            def step(ids):
                h = decoder(input_ids=ids, encoder_hidden_states=enc, use_cache=True, **{kw: cache}).last_hidden_state
                return proj(h[:, -1])

            _decode_steps(model, enc, cache, tokens, step)

        prefill_ms = _timed(lambda: _decode_steps(model, enc, EncoderDecoderCache(DynamicCache(), DynamicCache()),
                                                  0, None), device, repeats)
        eager_ms = _timed(eager_run, device, repeats)
        timing.decoder_ms_per_token["eager"] = round((eager_ms - prefill_ms) / tokens, 4)

        if compile:
            cache = static_cache(model, device)

            def raw_step(ids):
                h = decoder(input_ids=ids, encoder_hidden_states=enc, use_cache=True, **{kw: cache}).last_hidden_state
                return proj(h[:, -1])

            if compile_backend == "inductor":  # CUDA graphs on a GPU remove the per-step launch overhead
                mode = "reduce-overhead" if device.startswith("cuda") else "default"
                step = torch.compile(raw_step, mode=mode, fullgraph=False)
            else:
                step = torch.compile(raw_step, backend=compile_backend, fullgraph=False)

            def compiled_run():
                cache.reset()
                _decode_steps(model, enc, cache, tokens, step)

            def compiled_prefill():
                cache.reset()
                _decode_steps(model, enc, cache, 0, None)

            compiled_ms = _timed(compiled_run, device, repeats, warmup=3)
            static_prefill_ms = _timed(compiled_prefill, device, repeats)
            timing.decoder_ms_per_token["compiled"] = round((compiled_ms - static_prefill_ms) / tokens, 4)

        # The verifying pass: k new tokens in one forward over a cache holding a prompt + 10 tokens.
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        decoder(input_ids=torch.tensor([PROMPT + [1169] * 10], device=device), encoder_hidden_states=enc,
                use_cache=True, **{kw: cache})
        for k in VERIFY_SIZES:
            ids = torch.full((1, k), 1169, device=device)

            def verify():
                h = decoder(input_ids=ids, encoder_hidden_states=enc, use_cache=True, **{kw: cache}).last_hidden_state
                proj(h)
                cache.crop(-k)

            timing.verify_ms[k] = round(_timed(verify, device, repeats), 4)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return timing


def expected_tokens_per_round(a: float, g: int) -> float:
    """Tokens gained per verifying pass with g drafts accepted independently with probability a
    (the accepted prefix plus the main model's own token): (1 - a^(g+1)) / (1 - a)."""
    return float(g + 1) if a >= 1.0 else (1.0 - a ** (g + 1)) / (1.0 - a)


def model_latency(main: ModelTiming, asst: ModelTiming, tokens: int, acceptance: float, mode: str = "eager",
                  drafts: tuple[int, ...] = tuple(k - 1 for k in VERIFY_SIZES)) -> dict:
    """Modelled per-utterance latency (ms) of plain, distil-alone and speculative decoding; the
    speculative figure uses the best draft length g among `drafts`."""
    d_main, d_asst = main.decoder_ms_per_token[mode], asst.decoder_ms_per_token[mode]
    plain = main.encoder_ms + tokens * d_main
    distil = asst.encoder_ms + tokens * d_asst
    best = None
    for g in drafts:
        rounds = tokens / expected_tokens_per_round(acceptance, g)
        t = main.encoder_ms + rounds * (g * asst.decoder_ms_per_token["eager"] + main.verify_ms[g + 1])
        if best is None or t < best[1]:
            best = (g, t)
    return {"tokens": tokens, "acceptance": acceptance, "plain_ms": round(plain, 2),
            "distil_alone_ms": round(distil, 2), "speculative_ms": round(best[1], 2), "draft_tokens": best[0],
            "speculative_speedup": round(plain / best[1], 2), "distil_speedup": round(plain / distil, 2)}


def run_benchmark(size: str = "full", device: str | None = None, dtype: str | None = None, tokens: int = 64,
                  compile: bool = True, repeats: int = 5, compile_backend: str = "inductor") -> BenchResult:
    """Time both architectures on `device` (default: CUDA if available, else CPU)."""
    import torch
    import transformers

    if size not in ARCHITECTURES:
        raise ValueError(f"size must be one of {', '.join(ARCHITECTURES)}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("no GPU available: torch.cuda.is_available() is False")
    dtype = dtype or ("float16" if device.startswith("cuda") else "float32")
    tdtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[dtype]
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({torch.get_num_threads()} threads)"
    result = BenchResult(device=device, device_name=name, dtype=dtype, size=size, tokens=tokens,
                         torch_version=torch.__version__, transformers_version=transformers.__version__)
    for model_name, arch in ARCHITECTURES[size].items():
        result.models[model_name] = time_model(model_name, arch, device, tdtype, tokens, compile, repeats,
                                               compile_backend)
    if size != "full":
        result.notes.append("scaled-down architectures: a check of the code path, not a measurement")
    if compile and compile_backend != "inductor":
        result.notes.append(f"'compiled' used the {compile_backend} backend, not inductor")
    return result


def render_markdown(result: BenchResult, utterance_tokens=(20, 40), acceptance=PUBLISHED_ACCEPTANCE) -> str:
    main, asst = result.models[MAIN], result.models[ASSISTANT]
    modes = list(main.decoder_ms_per_token)
    lines = [f"Device: **{result.device_name}** ({result.device}), {result.dtype}, torch {result.torch_version}, "
             f"transformers {result.transformers_version}; architectures: {result.size}; decoder timed over "
             f"{result.tokens} forced tokens.", ""]
    lines += ["| model | params (M) | encoder ms / 30 s | " + " | ".join(f"decoder ms/token ({m})" for m in modes)
              + " |", "|---|---|---|" + "---|" * len(modes)]
    for t in (main, asst):
        lines.append(f"| {t.name} | {t.params_m} | {t.encoder_ms:.2f} | "
                     + " | ".join(f"{t.decoder_ms_per_token[m]:.3f}" for m in modes) + " |")
    lines += ["", f"Verifying pass of {MAIN} (eager), ms for k new tokens: "
              + ", ".join(f"k={k}: {v:.3f}" for k, v in main.verify_ms.items()), ""]
    lines += ["Modelled latency per utterance (ms; speculative uses eager steps, its best draft length g):", "",
              "| tokens | acceptance | plain | distil alone | speculative (g) | speculative speed-up | "
              "distil speed-up |", "|---|---|---|---|---|---|---|"]
    for n in utterance_tokens:
        for a in acceptance:
            m = model_latency(main, asst, n, a)
            lines.append(f"| {n} | {a:.0%} | {m['plain_ms']:.1f} | {m['distil_alone_ms']:.1f} | "
                         f"{m['speculative_ms']:.1f} (g={m['draft_tokens']}) | {m['speculative_speedup']:.2f}x | "
                         f"{m['distil_speedup']:.2f}x |")
    if "compiled" in modes:
        lines += ["", "With the compiled decoder step (plain and distil alone):", ""]
        for n in utterance_tokens:
            m = model_latency(main, asst, n, acceptance[0], mode="compiled")
            lines.append(f"- {n} tokens: plain {m['plain_ms']:.1f} ms, distil alone {m['distil_alone_ms']:.1f} ms "
                         f"({m['distil_speedup']:.2f}x)")
    for note in result.notes:
        lines += ["", f"Note: {note}."]
    return "\n".join(lines) + "\n"


NO_GPU_NOTE = ("no GPU available (torch.cuda.is_available() is False): GPU timings were not measured. "
               "Run this on a machine with CUDA to record them; '--size tiny --device cpu' checks the code path.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", choices=tuple(ARCHITECTURES), default="full",
                   help="full: the real architectures (default); tiny: scaled down, for checking the code on a CPU")
    p.add_argument("--device", default=None, help="cuda (default when available), cuda:N, or cpu")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default=None,
                   help="default float16 on CUDA, float32 on CPU")
    p.add_argument("--tokens", type=int, default=64, help="forced decoder tokens per timing (default 64)")
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions, median reported (default 5)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile'd decoder timing")
    p.add_argument("--json", action="store_true", help="print the raw measurements as JSON")


def main_with_args(args) -> int:
    import torch

    if args.tokens < 1 or args.repeats < 1:
        print("stenod: error: --tokens and --repeats must be at least 1", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print(f"stenod: {NO_GPU_NOTE}", file=sys.stderr)
        if args.device is None:
            return 0
        if args.device.startswith("cuda"):  # CUDA was asked for explicitly
            return 2
    result = run_benchmark(args.size, args.device, args.dtype, args.tokens, not args.no_compile, args.repeats)
    print(result.to_json() if args.json else render_markdown(result), end="" if not args.json else "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stenod.asr.gpubench", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return main_with_args(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

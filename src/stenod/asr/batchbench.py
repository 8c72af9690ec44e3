"""`stenod models batchbench`: is one batch of decodes faster than the same decodes one by one?

Two measurements, both through the backend's real batched loop (`batch.greedy_batch`):

- ``--corpus DIR``: a real model (``--model``, e.g. bundled:tiny.en) on the corpus clips, in
  groups of B; each group decoded one by one (`transcribe`, no draft) and as one batch
  (`transcribe_batch`). Reports the time of both, their ratio, and whether every text is the same.
- ``--arch NAME``: the exact architecture of distil-medium.en or whisper-medium.en with random
  weights (as `stenod models gpubench` builds them), B windows of audio through one encoder call
  and a forced number of decoder tokens per row (end-of-text can never be picked), against B
  single decodes. Speed does not depend on the weights; this is what runs where no model can be
  downloaded (the GPU check).

Prints one JSON object per batch size (and a Markdown table with ``--markdown``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class BatchTiming:
    batch: int
    one_by_one_ms: float  # B decodes one after another
    batched_ms: float  # the same B decodes as one batch
    same_text: bool | None  # --corpus: every batched text equals its one-by-one text (None: --arch)

    @property
    def speedup(self) -> float:
        return self.one_by_one_ms / self.batched_ms if self.batched_ms else 0.0

    def row(self) -> dict:
        return {**asdict(self), "speedup": round(self.speedup, 3),
                "decodes_per_s": round(self.batch / self.batched_ms * 1e3, 2) if self.batched_ms else None}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", metavar="DIR", help="time a real model on this corpus's clips")
    p.add_argument("--model", default="bundled:tiny.en", help="with --corpus: the model (default bundled:tiny.en)")
    p.add_argument("--arch", choices=("distil-medium.en", "whisper-medium.en"),
                   help="time this architecture with random weights and forced token counts")
    p.add_argument("--size", choices=("full", "tiny"), default="full",
                   help="--arch: full, or tiny (scaled-down layers: checks the code path on a CPU)")
    p.add_argument("--batches", default="1,2,4,8", metavar="B,B,...", help="batch sizes (default 1,2,4,8)")
    p.add_argument("--tokens", type=int, default=24, help="--arch: decoder tokens per row (default 24)")
    p.add_argument("--repeats", type=int, default=3, help="--arch: timed repetitions, median (default 3)")
    p.add_argument("--device", default=None, help="cuda (default when available), cuda:N, or cpu")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default=None,
                   help="default float16 on CUDA, float32 on CPU")
    p.add_argument("--attention", choices=("sdpa", "eager"), default="sdpa", help="attention kernels (default sdpa)")
    p.add_argument("--markdown", action="store_true", help="also print a Markdown table")


def parse_batches(text: str) -> list[int]:
    sizes = [int(x) for x in text.split(",") if x.strip()]
    if not sizes or min(sizes) < 1:
        raise ValueError(text)
    return sizes


def corpus_timings(model: str, corpus_dir: str, batches: list[int], device: str | None, dtype: str | None,
                   attention: str) -> list[BatchTiming]:
    """The real model on real clips: one by one against one batch, for each batch size."""
    from stenod.asr.backend import BackendOptions, load_backend
    from stenod.audio import load_audio
    from stenod.bench.corpus import load_corpus
    from stenod.types import DecodeRequest

    corpus = load_corpus(corpus_dir)
    backend = load_backend(model, BackendOptions(device=device or "auto", dtype=dtype or "auto", attention=attention))
    backend.warm_up()
    audio = [load_audio(c.path) for c in corpus.clips[:max(batches)]]
    out = []
    for b in batches:
        group = audio[:b]
        t0 = time.perf_counter()
        one = [backend.transcribe(a) for a in group]
        t1 = time.perf_counter()
        together = backend.transcribe_batch([DecodeRequest(a) for a in group])
        t2 = time.perf_counter()
        same = all(t is not None and t.text == o.text for t, o in zip(together, one))
        out.append(BatchTiming(b, round((t1 - t0) * 1e3, 1), round((t2 - t1) * 1e3, 1), same))
    return out


def arch_timings(name: str, batches: list[int], tokens: int, repeats: int, device: str | None, dtype: str | None,
                 attention: str, size: str = "full") -> list[BatchTiming]:
    """Random weights in `name`'s architecture: encoder + `tokens` forced greedy steps per row."""
    import torch

    from stenod.asr.batch import greedy_batch
    from stenod.asr.gpubench import ARCHITECTURES, build_model
    from stenod.asr.greedy import Vocab
    from stenod.asr.load import cache_keyword

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tdtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[
        dtype or ("float16" if device.startswith("cuda") else "float32")]
    arch = ARCHITECTURES[size][name]
    model = build_model(arch, device, tdtype, attention)
    nothing = torch.zeros(arch["vocab_size"], dtype=torch.bool, device=device)
    # End-of-text -1 is never the argmax and nothing is suppressed: every row makes `tokens` tokens.
    vocab = Vocab([50257, 50362], -1, 0, nothing, nothing)
    cache_kw = cache_keyword()

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)

    def run(b: int) -> None:
        with torch.inference_mode():
            feats = torch.randn(b, arch["num_mel_bins"], 3000, device=device, dtype=tdtype)
            enc = model.model.encoder(feats).last_hidden_state
            greedy_batch(model, enc, [vocab.prefix] * b, [0] * b, [False] * b, [tokens] * b, vocab, cache_kw,
                         [None] * b)

    def timed(b: int) -> float:
        run(b)  # warm-up
        times = []
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            run(b)
            sync()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)

    single = timed(1)
    return [BatchTiming(b, round(single * b, 2), round(single if b == 1 else timed(b), 2), None) for b in batches]


def markdown(rows: list[BatchTiming], title: str) -> str:
    lines = [f"{title}", "", "| batch | one by one (ms) | batched (ms) | speed-up | decodes/s | same text |",
             "| ---: | ---: | ---: | ---: | ---: | :---: |"]
    for r in rows:
        same = "-" if r.same_text is None else ("yes" if r.same_text else "NO")
        lines.append(f"| {r.batch} | {r.one_by_one_ms:.1f} | {r.batched_ms:.1f} | {r.speedup:.2f}x "
                     f"| {r.batch / r.batched_ms * 1e3:.1f} | {same} |")
    return "\n".join(lines)


def main_with_args(args) -> int:
    from stenod.cli import UserError

    try:
        batches = parse_batches(args.batches)
    except ValueError:
        raise UserError(f"--batches: expected positive sizes such as 1,2,4,8, got {args.batches!r}") from None
    if (args.corpus is None) == (args.arch is None):
        raise UserError("give either --corpus DIR (a real model on corpus clips) or --arch NAME (random weights)")
    if args.corpus is not None:
        from stenod.asr.resolve import ModelError
        from stenod.bench.corpus import CorpusError

        try:
            rows = corpus_timings(args.model, args.corpus, batches, args.device, args.dtype, args.attention)
        except (ModelError, CorpusError) as exc:
            raise UserError(str(exc)) from None
        title = f"{args.model} on {args.corpus}"
    else:
        import torch

        if args.device and args.device.startswith("cuda") and not torch.cuda.is_available():
            raise UserError("no GPU available: torch.cuda.is_available() is False")
        rows = arch_timings(args.arch, batches, args.tokens, args.repeats, args.device, args.dtype, args.attention,
                            args.size)
        title = f"{args.arch} architecture{' (scaled down)' if args.size == 'tiny' else ''}, random weights, " \
                f"{args.tokens} tokens per row"
    for r in rows:
        print(json.dumps({"title": title, **r.row()}), flush=True)
    if args.markdown:
        print(markdown(rows, title))
    return 0

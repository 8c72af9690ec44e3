"""`stenod models`: what models are available, cached or bundled; convert the bundled one; derive
a student (speculative-decoding assistant) from a model; time the GPU architectures and batching."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("models", help="list available models; convert the bundled model",
                       description="List the default, bundled and locally cached Whisper models. "
                                   "'stenod models convert' converts the bundled tiny.en now (it is "
                                   "otherwise converted on first use).")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    msub = p.add_subparsers(dest="models_cmd", metavar="ACTION")
    c = msub.add_parser("convert", help="convert the bundled model into the transformers format now")
    c.add_argument("name", nargs="?", default="bundled:tiny.en", help="bundled model (default bundled:tiny.en)")
    c.add_argument("--force", action="store_true", help="convert again even if cached")
    c.set_defaults(func=convert)
    d = msub.add_parser("derive-student", help="derive a Distil-Whisper-style student (a speculative assistant)",
                        description="Build a student of a Whisper model as Distil-Whisper initialises one: the "
                                    "encoder copied, the decoder reduced to some of the teacher's layers (by "
                                    "default the first and the last). Untrained, it is no recogniser of its own, "
                                    "but it shares the teacher's encoder and vocabulary and can draft for it "
                                    "('stenod transcribe --model TEACHER --assistant-model STUDENT'). Prints "
                                    "'TEACHER: STUDENT_DIR'.")
    d.add_argument("name", nargs="?", default="bundled:tiny.en",
                   help="the teacher: bundled:tiny.en (default) or a local transformers directory")
    d.add_argument("--layers", default="0,-1", metavar="I,J,...",
                   help="teacher decoder layers to keep, negative from the end (default 0,-1)")
    d.add_argument("--output", default=None, metavar="DIR", help="where to write it (default: the stenod model cache)")
    d.add_argument("--force", action="store_true", help="derive again even if the student exists")
    d.set_defaults(func=derive_student)
    g = msub.add_parser("gpubench", help="time the distil-medium.en and whisper-medium.en architectures on the GPU",
                        description="Micro-benchmark with random weights in the exact architectures of "
                                    "distil-medium.en and whisper-medium.en: encoder ms per 30 s window, decoder "
                                    "ms per token (eager and compiled), the verifying pass, and the modelled "
                                    "latency of plain against speculative decoding. Prints Markdown.")
    from stenod.asr.gpubench import add_arguments

    add_arguments(g)
    g.set_defaults(func=gpubench)
    from stenod.asr import batchbench

    bb = msub.add_parser("batchbench", help="time batched against one-by-one decoding",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Decode B utterances one by one and as one batch (one encoder call, one "
                                     "batched greedy loop) and compare: a real model on corpus clips (--corpus, "
                                     "with a check that every text is the same), or an exact architecture with "
                                     "random weights and forced token counts (--arch). One JSON line per batch size.",
                         epilog="examples:\n  stenod models batchbench --corpus /tmp/corpus --batches 1,2,4,8\n"
                                "  stenod models batchbench --arch distil-medium.en --device cuda --batches 1,8,32")
    batchbench.add_arguments(bb)
    bb.set_defaults(func=batchbench.main_with_args)
    cap = msub.add_parser("capacity", help="multi-stream capacity of an architecture on random weights",
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          description="N simulated real-time streams (synthetic audio, utterances of 3-6 s with "
                                      "pauses) through the daemon's real inference worker and scheduler, decoded by "
                                      "the exact architecture of distil-medium.en or whisper-medium.en on random "
                                      "weights with a forced number of tokens per decode; finds the largest N whose "
                                      "p95 final latency stays within 1.5 s (doubling, then bisection). Timing only: "
                                      "texts mean nothing, and decoding is plain (an assistant's acceptance on "
                                      "random weights would mean nothing).",
                          epilog="examples:\n  stenod models capacity --arch distil-medium.en --device cuda "
                                 "--json cap.json\n  stenod models capacity --device cuda --static-cache --compile\n"
                                 "  stenod models capacity --size tiny --device cpu --max-streams 4 --duration 8")
    cap.add_argument("--arch", choices=("distil-medium.en", "whisper-medium.en"), default="distil-medium.en",
                     help="architecture (default distil-medium.en)")
    cap.add_argument("--size", choices=("full", "tiny"), default="full",
                     help="full (default) or tiny: scaled-down layers, checks the code path on a CPU")
    cap.add_argument("--device", default="auto", help="auto (default: cuda when available), cuda, cuda:N or cpu")
    cap.add_argument("--dtype", choices=("auto", "float16", "bfloat16", "float32"), default="auto",
                     help="default float16 on CUDA, float32 on CPU")
    cap.add_argument("--attention", choices=("sdpa", "eager"), default="sdpa", help="attention kernels (default sdpa)")
    cap.add_argument("--static-cache", action="store_true", help="decode with a static KV cache (one by one)")
    cap.add_argument("--compile", action="store_true", help="torch.compile the decoder step (implies --static-cache)")
    cap.add_argument("--tokens", type=int, default=24, help="forced tokens per decode (default 24)")
    cap.add_argument("--duration", type=float, default=20.0, help="seconds of audio per stream and run (default 20)")
    cap.add_argument("--max-streams", type=int, default=512, help="the search's upper bound (default 512)")
    cap.add_argument("--start", type=int, default=1, help="the search's first N, doubled from there (default 1)")
    cap.add_argument("--streams", type=int, default=None, help="run this many streams once instead of searching")
    cap.add_argument("--max-batch", type=int, default=None,
                     help="the scheduler's batch bound (default [stream] max_batch)")
    cap.add_argument("--json", metavar="FILE", default=None, help="also write the result as JSON")
    cap.set_defaults(func=capacity)
    p.set_defaults(func=list_models)


def _hub_cached() -> list[dict]:
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir()
    except Exception:  # noqa: BLE001 - no cache directory yet, or an unreadable one: nothing cached
        return []
    return [{"name": r.repo_id, "size_mb": round(r.size_on_disk / 1e6, 1), "path": str(r.repo_path)}
            for r in info.repos if r.repo_type == "model" and "whisper" in r.repo_id.lower()]


def list_models(args) -> int:
    from stenod.asr.resolve import BUNDLED_PREFIX, BUNDLED_VARIANTS, DEFAULT_MODEL, ModelError, \
        bundled_cache_dir, is_converted

    rows = []
    for v in BUNDLED_VARIANTS:
        try:
            path = bundled_cache_dir(v)
            state = "converted" if is_converted(path) else "bundled (converted on first use)"
            rows.append({"name": BUNDLED_PREFIX + v, "state": state, "path": str(path)})
        except ModelError as exc:
            rows.append({"name": BUNDLED_PREFIX + v, "state": f"unavailable: {exc}", "path": None})
    cached = _hub_cached()
    for r in cached:
        rows.append({"name": r["name"], "state": f"cached ({r['size_mb']} MB)", "path": r["path"]})
    if not any(r["name"] == DEFAULT_MODEL for r in cached):
        rows.append({"name": DEFAULT_MODEL, "state": "default; not cached (downloaded on first use when online)",
                     "path": None})
    if args.json:
        print(json.dumps({"default": DEFAULT_MODEL, "models": rows}))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['state']}" + (f"\n{'':<{width}}  {r['path']}" if r["path"] else ""))
    return 0


def convert(args) -> int:
    import shutil

    from stenod.asr.resolve import BUNDLED_PREFIX, ModelError, bundled_cache_dir, ensure_bundled
    from stenod.cli import UserError

    if not args.name.startswith(BUNDLED_PREFIX):
        raise UserError(f"only bundled models need converting, e.g. {BUNDLED_PREFIX}tiny.en")
    variant = args.name[len(BUNDLED_PREFIX):]
    try:
        if args.force:
            shutil.rmtree(bundled_cache_dir(variant), ignore_errors=True)
        path = ensure_bundled(variant)
    except ModelError as exc:
        raise UserError(str(exc)) from None
    print(f"{args.name}: {path}")
    return 0


def derive_student(args) -> int:
    from stenod.asr.resolve import ModelError, resolve
    from stenod.asr.student import derive_student as derive, parse_layers
    from stenod.cli import UserError

    try:
        layers = parse_layers(args.layers)
    except ValueError:
        raise UserError(f"--layers: expected comma-separated decoder layer indices such as 0,-1, "
                        f"got {args.layers!r}") from None
    try:
        ref = resolve(args.name)
        if not ref.local:
            raise ModelError(f"{args.name}: derive a student from bundled:tiny.en or a local model directory")
        path = derive(ref, args.output, layers, force=args.force)
    except ModelError as exc:
        raise UserError(str(exc)) from None
    print(f"{args.name}: {path}")
    return 0


def capacity(args) -> int:
    import sys

    from stenod.cli import UserError

    if min(args.tokens, args.max_streams, args.start, args.streams or 1) < 1 or args.duration < 7.0:
        raise UserError("--tokens, --max-streams, --start and --streams must be at least 1, --duration at least 7 s "
                        "(an utterance of up to 6 s must fit)")
    if args.max_batch is not None and not 1 <= args.max_batch <= 1024:
        raise UserError(f"--max-batch: must be in 1..1024, got {args.max_batch}")
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("no GPU available: torch.cuda.is_available() is False")
    from stenod.asr.options import BackendOptions
    from stenod.asr.synthetic import synthetic_backend
    from stenod.bench import capacity_synth as cs
    from stenod.bench.report import write_json

    options = BackendOptions(device=args.device, dtype=args.dtype, attention=args.attention, compile=args.compile,
                             static_cache=args.static_cache or args.compile)
    backend = synthetic_backend(args.arch, args.size, args.tokens, options)
    backend.warm_up()

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.streams is not None:
        run = cs.run_synthetic(backend, args.streams, args.duration, max_batch=args.max_batch)
        # One run, no search: capacity stays null; the table says whether it kept up.
        result = {"goal_p95_ms": cs.CAPACITY_GOAL_MS, "capacity": None, "measured": cs.MEASURED, "runs": [run]}
        print(cs.format_search(result))
    else:
        result = cs.search_capacity(backend, args.max_streams, args.duration, say, args.max_batch,
                                    keep=lambda partial: args.json and write_json(partial, args.json),
                                    start=args.start)
        print(cs.format_search(result))
    if args.json:
        write_json(result, args.json)
    return 0


def gpubench(args) -> int:
    from stenod.asr.gpubench import main_with_args

    return main_with_args(args)

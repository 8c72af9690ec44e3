"""`stenod bench CORPUS_DIR`: accuracy, latency and cost of the real pipeline, in one table."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number (1 = real time)")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="measure accuracy, latency and cost on a speech corpus",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a corpus (manifest.json format of DESIGN.md) through the model offline, clip by clip, "
                    "and through the real daemon as a stream paced at real time, with a subscriber in a separate "
                    "process timestamping what arrives. Reports WER (offline and of the streamed finals, in %, "
                    "after Whisper's English normalization), final and first-partial latency (wall clock, from "
                    "the true speech boundaries), hallucinated words (session pauses and noise files), idle CPU, "
                    "peak memory and start-up time.",
        epilog="examples:\n  stenod bench corpus/ --model bundled:tiny.en --json bench.json --plot bench.png\n"
               "  stenod bench corpus/ --skip-offline --set vad.hangover_ms=150\n"
               "  stenod bench corpus/ --skip-offline --via-mic   # through a virtual microphone\n"
               "  stenod bench --compare greedy.json beams.json\n"
               "  stenod bench corpus/ --model bundled:tiny.en --streams 3 --json three.json\n"
               "  stenod bench corpus/ --model bundled:tiny.en --find-capacity\n"
               "  stenod bench corpus/ --skip-offline --remote http://gpu-host:8000   # local, then via the service")
    p.add_argument("corpus", type=Path, metavar="CORPUS_DIR", nargs="?", help="directory with manifest.json")
    p.add_argument("--compare", type=Path, nargs=2, metavar=("A.json", "B.json"),
                   help="print two earlier --json results side by side (runs nothing)")
    p.add_argument("--model", help="model to measure (as for stenod run; default: the daemon's default)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--assistant-model", metavar="A", help="draft model for speculative decoding")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the results as JSON")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="draw the streaming timeline (needs matplotlib)")
    p.add_argument("--speed", type=_speed, default=1.0,
                   help="replay speed of the streaming part (default 1 = real time; latency stays in wall ms)")
    p.add_argument("--config", type=Path, help="daemon config file (default: the daemon's usual one)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="config override for the daemon and the offline model, e.g. vad.hangover_ms=150")
    p.add_argument("--skip-offline", action="store_true", help="skip the clip-by-clip part")
    p.add_argument("--skip-streaming", action="store_true", help="skip the daemon part")
    p.add_argument("--idle-s", type=_seconds, default=12.0, metavar="S",
                   help="silence after the sessions, for the idle-CPU measurement (default 12)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep the stream WAV, event log and daemon log here")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--remote", metavar="URL",
                   help="run the streaming pass again with the daemon decoding on this inference service "
                        "(as stenod run --remote) and report WER, latency and their ratios to the local run")
    p.add_argument("--token-file", metavar="FILE", help="the service's token (with --remote)")
    p.add_argument("--via-mic", action="store_true",
                   help="stream through a microphone: play the corpus into a virtual sink of the running "
                        "PulseAudio/PipeWire server whose monitor the daemon captures; latency from the "
                        "sink's playback clock (real time only)")
    m = p.add_argument_group("several streams in one daemon (capacity)")
    m.add_argument("--streams", type=int, metavar="N",
                   help="replay N copies of the corpus sessions, each offset in time, as N real-time file "
                        "streams into one daemon; per-stream WER and latency (replaces the usual parts)")
    m.add_argument("--find-capacity", action="store_true",
                   help="the largest N whose p95 final latency stays within 1.5 s (doubling, then bisection)")
    m.add_argument("--offset-s", type=_seconds, default=2.5, metavar="S",
                   help="stream k starts k*S seconds after the first (default 2.5)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from stenod.asr.resolve import ModelError
    from stenod.bench.corpus import CorpusError
    from stenod.bench.report import Progress, format_report, write_json
    from stenod.bench.runner import BenchOptions, run_bench
    from stenod.bench.streaming import BenchError
    from stenod.cli import UserError

    if args.compare:
        return compare(*args.compare)
    if args.corpus is None:
        raise UserError("bench: give a CORPUS_DIR to measure, or --compare A.json B.json")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError("--plot needs matplotlib: pip install 'stenod[bench]'") from None
    if args.streams is not None or args.find_capacity:
        return _run_streams(args)
    if args.via_mic and args.speed != 1.0:
        raise UserError("--via-mic plays the corpus in real time: drop --speed")
    opts = BenchOptions(via_mic=args.via_mic, corpus=args.corpus, model=args.model, device=args.device,
                        assistant_model=args.assistant_model, speed=args.speed, config=args.config,
                        sets=tuple(args.set), idle_s=args.idle_s, skip_offline=args.skip_offline,
                        skip_streaming=args.skip_streaming, keep=args.keep, plot=args.plot)
    progress = Progress(enabled=not args.quiet)
    try:
        if args.remote:
            from stenod.bench.remote import run_remote_bench

            result = run_remote_bench(opts, args.remote, args.token_file, progress, progress.line)
        else:
            result = run_bench(opts, progress, progress.line)
    except (CorpusError, BenchError, ModelError) as exc:
        raise UserError(str(exc)) from None
    finally:
        progress.clear()
    if args.json:
        write_json(result, args.json)
    print(format_report(result))
    if args.remote:
        from stenod.bench.remote import format_remote

        print(format_remote(result))
    if args.json or args.plot:
        print("", *(f"wrote {p}" for p in (args.json, args.plot) if p), sep="\n")
    sys.stdout.flush()
    return 0


def compare(a_path: Path, b_path: Path) -> int:
    import json

    from stenod.bench.report import format_compare, schema_errors
    from stenod.cli import UserError

    runs = []
    for path in (a_path, b_path):
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: not a JSON file ({exc})") from None
        errors = schema_errors(runs[-1])
        if errors:
            raise UserError(f"{path}: not a stenod bench result ({errors[0]})")
    print(format_compare(runs[0], runs[1], (str(a_path), str(b_path))))
    return 0


def _run_streams(args) -> int:
    """`--streams N` / `--find-capacity`: several real-time streams into one daemon."""
    from stenod.bench.corpus import CorpusError, load_corpus
    from stenod.bench.multistream import find_capacity, format_streams, run_streams
    from stenod.bench.report import Progress, write_json
    from stenod.bench.runner import BenchOptions, _daemon_args, _short_tmpdir
    from stenod.bench.streaming import BenchError
    from stenod.cli import UserError

    if args.corpus is None:
        raise UserError("bench --streams: give a CORPUS_DIR")
    if args.streams is not None and args.streams < 1:
        raise UserError(f"--streams must be >= 1, got {args.streams}")
    if args.streams is not None and args.find_capacity:
        raise UserError("--streams N and --find-capacity exclude each other (the search picks N)")
    if args.via_mic or args.plot:
        raise UserError("--streams and --find-capacity replay files: drop --via-mic and --plot")
    opts = BenchOptions(corpus=args.corpus, model=args.model, device=args.device,
                        assistant_model=args.assistant_model, speed=args.speed, config=args.config,
                        sets=tuple(args.set))
    progress = Progress(enabled=not args.quiet)
    root = args.keep or _short_tmpdir()
    try:
        corpus = load_corpus(args.corpus)

        def one(n: int) -> dict:
            return run_streams(corpus, root / f"streams-{n}", n, offset_s=args.offset_s, speed=args.speed,
                               daemon_args=_daemon_args(opts), progress=progress)

        if args.find_capacity:
            result = find_capacity(one, progress.line)
            text = "\n\n".join(format_streams(r) for r in result["runs"])
            text += f"\n\ncapacity: {result['capacity']} real-time streams keep p95 final latency <= " \
                    f"{result['goal_p95_ms']:.0f} ms"
        else:
            result = one(args.streams)
            text = format_streams(result)
    except (CorpusError, BenchError) as exc:
        raise UserError(str(exc)) from None
    finally:
        progress.clear()
    if args.json:
        write_json(result, args.json)
    print(text)
    return 0

"""``stenod bench``, end to end: offline pass, streaming pass, scoring, one result dictionary.

The offline pass runs first, in this process, and frees its model before the daemon starts, so
the two never compete for the CPU or the GPU. Everything the streaming pass needs lives in a
private temporary directory (the stream WAV, the event log, the daemon's log), removed at the
end unless ``keep`` names a directory to keep it in.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from stenod import __version__
from stenod.bench.corpus import Corpus, build_stream, load_corpus
from stenod.bench.report import latency_stats, num
from stenod.bench.resources import OtherLoad, machine
from stenod.bench.score import StreamScore, score_stream
from stenod.bench.streaming import StreamRun, idle_window, run_stream


@dataclass(frozen=True)
class BenchOptions:
    corpus: Path
    model: str | None = None  # None: the daemon's default (with its bundled fallback)
    device: str | None = None
    assistant_model: str | None = None
    speed: float = 1.0
    config: Path | None = None
    sets: tuple[str, ...] = ()  # SECTION.KEY=VALUE overrides for the daemon and the offline model
    idle_s: float = 12.0
    gap_s: float = 1.0
    skip_offline: bool = False
    skip_streaming: bool = False
    keep: Path | None = None
    plot: Path | None = None
    via_mic: bool = False  # the streaming pass through a virtual microphone instead of a file


def overrides(opts: BenchOptions) -> dict[str, str]:
    """Config overrides shared by the offline model and the daemon (as ``--set`` pairs)."""
    from stenod.commands.options import parse_sets

    out = parse_sets(opts.sets)
    if opts.model:
        out["model.name"] = opts.model
    if opts.device:
        out["model.device"] = opts.device
    if opts.assistant_model:
        out["model.assistant_model"] = opts.assistant_model
        out["model.decoding"] = "speculative"
    return out


def load_settings(opts: BenchOptions):
    """The configuration the daemon will run with (file + overrides), and whether the model was
    named explicitly (only the default model falls back to the bundled one)."""
    from stenod.asr.resolve import DEFAULT_MODEL
    from stenod.cli import UserError
    from stenod.config import ConfigError, apply_overrides, load_config

    try:
        cfg = apply_overrides(load_config(opts.config), overrides(opts))
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    return cfg, opts.model is not None or cfg.model.name != DEFAULT_MODEL


def _short_tmpdir() -> Path:
    base = tempfile.gettempdir()
    return Path(tempfile.mkdtemp(prefix="stenod-bench-", dir=base if len(base) <= 40 else "/tmp"))


def run_bench(opts: BenchOptions, progress: Callable[[str], None], line: Callable[[str], None]) -> dict[str, Any]:
    """Run the benchmark and return the result dictionary (see :mod:`stenod.bench.report`)."""
    t_start, load = time.monotonic(), OtherLoad()
    corpus = load_corpus(opts.corpus)
    cfg, explicit = load_settings(opts)
    result: dict[str, Any] = {
        "model": cfg.model.name, "device": cfg.model.device,
        "assistant_model": cfg.model.assistant_model,
        "offline": {"wer": None, "clips": 0, "median_s": None, "rtf": None, "skipped": True},
        "streaming": {"wer": None, "utterances": 0, "finals": 0,
                      "final_latency_ms": {"p50": None, "p95": None, "max": None},
                      "first_partial_ms": {"p50": None, "p95": None}, "hallucinated_words": 0, "skipped": True},
        "noise": {"files": 0, "words": 0},
        "resources": {"idle_cpu_pct": None, "peak_rss_mb": None, "ready_s": None},
        "corpus": str(corpus.dir), "speed": opts.speed, "via_mic": opts.via_mic,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "stenod_version": __version__, "details": {},
    }
    if not opts.skip_offline and corpus.clips:
        from stenod.bench.offline import run_offline

        off = run_offline(corpus.clips, cfg.model.name if explicit else None, cfg.model, progress)
        result.update(model=off.model, device=off.device, assistant_model=off.assistant_model)
        result["offline"] = {k: num(v, 4) if isinstance(v, float) else v for k, v in off.summary().items()}
        result["details"]["clips"] = [vars(c) | {"seconds": round(c.seconds, 4)} for c in off.clips]
        line(f"offline: {len(off.clips)} clips, WER {off.wer:.2f} %, median {off.median_s:.3f} s/clip")
    if not opts.skip_streaming and corpus.sessions:
        _streaming(opts, corpus, cfg, explicit, result, progress, line)
    result["wall_s"] = round(time.monotonic() - t_start, 1)
    result["resources"]["other_load_pct"] = num(load.pct(), 1)
    return result


def _daemon_args(opts: BenchOptions) -> list[str]:
    args = ["--config", str(opts.config)] if opts.config else []
    for key, value in overrides(opts).items():
        if key == "model.name":
            args += ["--model", value]
        elif key == "model.device":
            args += ["--device", value]
        else:
            args += ["--set", f"{key}={value}"]
    return args


def _streaming(opts: BenchOptions, corpus: Corpus, cfg, explicit: bool, result: dict[str, Any],
               progress: Callable[[str], None], line: Callable[[str], None]) -> None:
    workdir = _short_tmpdir()
    try:
        plan = build_stream(corpus, workdir / "stream.wav", gap_s=opts.gap_s, idle_s=opts.idle_s)
        line(f"streaming: {plan.duration:.0f} s of audio at {opts.speed:g}x ({len(plan.noise)} noise files, "
             f"{len(plan.utterances)} utterances, {opts.idle_s:g} s of silence)")
        due = None
        if opts.via_mic:
            from stenod.bench.viamic import run_via_mic

            run, due = run_via_mic(plan, workdir, daemon_args=_daemon_args(opts), progress=progress)
        else:
            run = run_stream(plan, workdir, speed=opts.speed, daemon_args=_daemon_args(opts), progress=progress)
        if run.origin_ns is None:
            from stenod.bench.streaming import BenchError

            raise BenchError("the daemon reported no stream origin (no status reply and no final)")
        score = score_stream(plan, run.arrivals, run.origin_ns, run.speed, run.ready_ns, due)
        _fill_streaming(result, run, score)
        line(f"streaming: {len(plan.utterances)} utterances, WER {score.wer:.2f} %")
        if opts.plot:
            from stenod.bench.plot import draw

            draw(run, score, opts.plot, title=f"stenod bench: {result['model']} on {result['device']}, "
                                               f"speed {opts.speed:g}x")
    finally:
        if opts.keep:
            opts.keep.mkdir(parents=True, exist_ok=True)
            for name in ("stream.wav", "events.jsonl", "daemon.log", "listener.log"):
                if (workdir / name).exists():
                    shutil.copyfile(workdir / name, opts.keep / name)
        shutil.rmtree(workdir, ignore_errors=True)


def _fill_streaming(result: dict[str, Any], run: StreamRun, score: StreamScore) -> None:
    plan = run.plan
    finals = [f for f in score.finals if f.kind != "retracted"]
    if result["offline"].get("skipped"):  # else the offline pass already named what it loaded
        result["model"], result["device"] = run.model or result["model"], run.device or result["device"]
        result["assistant_model"] = ((run.control or {}).get("decoding") or {}).get("assistant_model") \
            or result["assistant_model"]
    result["streaming"] = {
        "wer": num(score.wer, 4), "utterances": len(plan.utterances), "finals": len(finals),
        "final_latency_ms": latency_stats(score.final_latencies),
        "first_partial_ms": latency_stats(score.first_partials, ("p50", "p95")),
        "hallucinated_words": score.nonspeech_words + score.noise_words,
        "nonspeech_words": score.nonspeech_words, "missing": score.missing, "merged": score.merged,
        "split": score.split, "retracted": len(score.finals) - len(finals),
        "latency_excluded": score.latency_excluded, "speed": run.speed,
        "latency_clock": "playback" if run.playback_origin_ns is not None else "wall",
        "events_lost": run.lost,
        "latency_breakdown": score.breakdown,
    }
    result["noise"] = {"files": len(plan.noise), "words": score.noise_words, "by_kind": score.noise_words_by_kind()}
    window = idle_window(run)
    idle, covered = run.sampler.cpu_pct(*window) if window else (None, 0.0)
    busy = None
    if run.ready_ns is not None:
        busy, _ = run.sampler.cpu_pct(run.ready_ns, run.ended_ns)
    result["resources"] = {
        "idle_cpu_pct": num(idle, 3), "peak_rss_mb": num(run.sampler.peak_rss_mb, 1),
        "ready_s": num(None if run.ready_ns is None else (run.ready_ns - run.started_ns) / 1e9, 2),
        "idle_window_s": num(covered, 2), "run_cpu_pct": num(busy, 1),
    }
    origin = run.origin_ns
    result["details"]["utterances"] = [
        {"index": u.index, "start": u.span.start, "end": u.span.end, "ref": u.span.text, "hyp": u.hyp,
         "status": u.status, "final_latency_ms": num(u.final_latency_ms, 1),
         "first_partial_ms": num(u.first_partial_ms, 1)} for u in score.utterances]
    result["details"]["other_finals"] = [
        {"kind": f.kind, "label": f.label, "text": f.arrival.text, "start": f.arrival.start_s,
         "end": f.arrival.end_s, "arrived": round((f.arrival.recv_ns - origin) / 1e9 * run.speed, 3)}
        for f in score.finals if f.kind != "speech"]

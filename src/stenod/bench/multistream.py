"""Capacity: N copies of the corpus sessions, each offset in time, replayed as N real-time file
streams into ONE daemon (one worker, one model), with one subscriber timestamping what arrives.
Each stream is scored on its own (WER, final latency from its own speech ends); the capacity
search finds the largest N whose p95 final latency (over all streams) stays within the goal.

Schema of the result (``stenod bench --streams N --json``; every key always present, a number is
null when it could not be measured)::

    {"model", "device", "streams", "offset_s", "speed",
     "wer", "final_latency_ms": {"p50", "p95", "max"}, "finals", "utterances",
     "per_stream": [{"label", "wer", "utterances", "finals", "missing",
                     "final_latency_ms": {"p50", "p95", "max"}}, ...],
     "date", "machine", "other_load_pct"}

and of ``--find-capacity``: ``{"goal_p95_ms", "capacity", "runs": [<result above>, ...]}``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from stenod.bench.corpus import Corpus, StreamPlan, build_stream, read_pcm, write_wav
from stenod.bench.report import latency_stats, num
from stenod.bench.resources import OtherLoad, machine
from stenod.bench.score import score_stream
from stenod.bench.streaming import BenchError, _decode, _stop, _Tail, spawn_daemon, start_listener
from stenod.protocol import DEFAULT_STREAM

CAPACITY_GOAL_MS = 1500.0
"""The capacity search's bound on the p95 final latency over all streams."""

MULTI_SCHEMA: dict[str, Any] = {
    "model": (str, type(None)), "device": (str, type(None)), "streams": int, "offset_s": float,
    "wer": float, "final_latency_ms": {"p50": float, "p95": float, "max": float}, "finals": int,
    "utterances": int, "per_stream": list,
}
"""Required keys and their types (see :func:`stenod.bench.report.schema_errors`)."""


def _shifted(plan: StreamPlan, wav: Path, offset_s: float) -> StreamPlan:
    """The plan with ``offset_s`` of silence in front (its WAV written to ``wav``)."""
    pcm = read_pcm(plan.wav)
    write_wav(wav, np.concatenate([np.zeros(int(round(offset_s * 16000)), np.int16), pcm]))

    def move(spans):
        return tuple(dataclasses.replace(s, start=s.start + offset_s, end=s.end + offset_s) for s in spans)

    return dataclasses.replace(plan, wav=wav, duration=plan.duration + offset_s, utterances=move(plan.utterances),
                               nonspeech=move(plan.nonspeech), noise=move(plan.noise), sessions=move(plan.sessions),
                               idle=None)


def stream_plans(corpus: Corpus, workdir: Path, n: int, offset_s: float) -> list[StreamPlan]:
    """N stream plans: the corpus sessions (no noise files), stream k starting ``k * offset_s`` later."""
    base = build_stream(corpus, workdir / "base.wav", idle_s=0.0, with_noise=False)
    return [_shifted(base, workdir / f"s{k + 1}.wav", k * offset_s) for k in range(n)]


def run_streams(corpus: Corpus, workdir: Path, n: int, *, offset_s: float = 2.5, speed: float = 1.0,
                daemon_args: list[str] = (), progress: Callable[[str], None] = lambda _m: None,
                extra_timeout_s: float = 300.0) -> dict[str, Any]:
    """Run N streams through one daemon; the result dictionary (see the module's schema)."""
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the daemon's sockets live here
    workdir.chmod(0o700)
    load = OtherLoad()
    plans = stream_plans(corpus, workdir, n, offset_s)
    labels = [f"s{k + 1}" for k in range(n)]
    events_ep, control_ep = f"ipc://{workdir}/events", f"ipc://{workdir}/control"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    tail = _Tail(workdir / "events.jsonl")
    listener = start_listener(workdir, env, events_ep, control_ep, tail)
    daemon = None
    try:
        sources = [a for label, plan in zip(labels, plans) for a in ("--source", f"{label}=file:{plan.wav}")]
        cmd = [sys.executable, "-m", "stenod", "run", *sources, "--speed", repr(speed), "--exit-at-end",
               "--events", events_ep, "--control", control_ep, *daemon_args]
        started = time.monotonic_ns()
        daemon = spawn_daemon(cmd, env, workdir / "daemon.log")
        longest = max(p.duration for p in plans)
        limit_ns = started + int((longest / speed + extra_timeout_s) * 1e9)
        finals = 0
        while daemon.poll() is None:
            finals += sum(r["topic"].endswith("transcript.final") for r in tail.poll())
            progress(f"{n} streams: {(time.monotonic_ns() - started) / 1e9:.0f} s of about "
                     f"{longest / speed:.0f} s, {finals} finals")
            if time.monotonic_ns() > limit_ns:
                _stop(daemon)
                raise BenchError(f"the daemon did not finish within {longest / speed + extra_timeout_s:.0f} s")
            time.sleep(0.2)
        try:
            listener.wait(5)
        except Exception:  # noqa: BLE001 - a listener that does not exit is stopped below
            pass
        tail.poll()
    finally:
        if daemon is not None:
            _stop(daemon)
        _stop(listener)
    log = (workdir / "daemon.log").read_text(errors="replace")
    if daemon.returncode != 0:
        raise BenchError(f"the daemon exited with status {daemon.returncode}:\n" + log[-3000:])
    return _score(tail.records, labels, plans, speed, offset_s, load)


def _score(records: list[dict], labels: list[str], plans: list[StreamPlan], speed: float, offset_s: float,
           load: OtherLoad) -> dict[str, Any]:
    common = [r for r in records if not isinstance(r.get("event", {}).get("stream"), str)]
    _, statuses, control, _ = _decode(common)
    ready = next((d for s, _, d in statuses if s in ("ready", "paused")), {})
    ready_ns = next((ns for s, ns, _ in statuses if s in ("ready", "paused")), None)
    per_stream, all_latencies, errors, ref_words = [], [], 0, 0
    for label, plan in zip(labels, plans):
        mine = [r for r in records if r.get("event", {}).get("stream", DEFAULT_STREAM) == label]
        arrivals, _, _, _ = _decode(mine)
        origin = next((a.timings["stream_origin_mono_ns"] for a in arrivals
                       if isinstance(a.timings.get("stream_origin_mono_ns"), int)), None)
        if origin is None:
            per_stream.append({"label": label, "wer": None, "utterances": len(plan.utterances), "finals": 0,
                               "missing": len(plan.utterances), "final_latency_ms": latency_stats([])})
            continue
        score = score_stream(plan, arrivals, origin, speed, ready_ns)
        lat = score.final_latencies
        all_latencies += lat
        errors, ref_words = errors + score.errors, ref_words + score.ref_words
        per_stream.append({"label": label, "wer": num(score.wer), "utterances": len(plan.utterances),
                           "finals": sum(a.final and bool(a.text.strip()) for a in arrivals),
                           "missing": score.missing, "final_latency_ms": latency_stats(lat)})
    return {"model": ready.get("model") or (control or {}).get("model"),
            "device": ready.get("device") or (control or {}).get("device"),
            "streams": len(labels), "offset_s": float(offset_s), "speed": speed,
            "wer": num(100.0 * errors / ref_words) if ref_words else None,
            "final_latency_ms": latency_stats(all_latencies),
            "finals": sum(s["finals"] for s in per_stream), "utterances": sum(s["utterances"] for s in per_stream),
            "per_stream": per_stream, "other_load_pct": num(load.pct(), 1),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine()}


def keeps_up(result: dict[str, Any], goal_ms: float = CAPACITY_GOAL_MS) -> bool:
    """Every stream got finals and the p95 final latency over all streams is within the goal."""
    p95 = result["final_latency_ms"]["p95"]
    return p95 is not None and p95 <= goal_ms and all(s["finals"] > 0 for s in result["per_stream"])


def find_capacity(run: Callable[[int], dict[str, Any]], say: Callable[[str], None], limit: int = 512,
                  goal_ms: float = CAPACITY_GOAL_MS, start: int = 1) -> dict[str, Any]:
    """The largest N that keeps up: N = start, 2 start, 4 start, ... until one does not, then
    bisection (down to 1 when `start` itself falls behind)."""
    runs: dict[int, dict[str, Any]] = {}

    def ok(n: int) -> bool:
        runs[n] = run(n)
        good = keeps_up(runs[n], goal_ms)
        p95 = runs[n]["final_latency_ms"]["p95"]
        say(f"capacity: {n} streams: p95 final latency {'?' if p95 is None else f'{p95:.0f}'} ms "
            f"-> {'keeps up' if good else 'falls behind'}")
        return good

    good, bad = 0, None
    n = max(1, start)
    while n <= limit:
        if not ok(n):
            bad = n
            break
        good, n = n, n * 2
    while bad is not None and bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if ok(mid) else (good, mid)
    return {"goal_p95_ms": goal_ms, "capacity": good, "runs": [runs[k] for k in sorted(runs)]}


def format_streams(r: dict[str, Any]) -> str:
    """The human summary of one multi-stream run."""
    def ms(v):
        return "–" if v is None else f"{v:.0f} ms"

    def pct(v):
        return "–" if v is None else f"{v:.2f} %"

    lat = r["final_latency_ms"]
    lines = [f"{r['streams']} streams into one daemon ({r['model']} on {r['device']}), offset {r['offset_s']:g} s",
             f"all streams: WER {pct(r['wer'])}, {r['finals']} finals for "
             f"{r['utterances']} utterances, final latency p50 {ms(lat['p50'])}, p95 {ms(lat['p95'])}, "
             f"max {ms(lat['max'])}"]
    for s in r["per_stream"]:
        sl = s["final_latency_ms"]
        lines.append(f"  [{s['label']}] WER {pct(s['wer'])}, "
                     f"{s['finals']} finals, {s['missing']} missing, p50 {ms(sl['p50'])}, p95 {ms(sl['p95'])}")
    if r.get("other_load_pct") and r["other_load_pct"] > 10:
        lines.append(f"note: other processes used {r['other_load_pct']:.0f} % CPU meanwhile")
    return "\n".join(lines)

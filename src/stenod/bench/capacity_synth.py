"""Multi-stream capacity on random weights: N simulated real-time streams through the REAL
inference worker and scheduler (`daemon/infer.py`, `daemon/schedule.py`) and a `SyntheticBackend`
(`asr/synthetic.py`: an exact architecture, random weights, a forced number of tokens per decode).

Where neither the model nor the corpus can travel (the GPU machine), this measures what the
daemon's decode path sustains. Each stream's inbox gets what the segmenter would queue, paced in
real time: utterances of 3 to 6 s of synthetic audio (a tone in noise: with forced token counts
the decode cost does not depend on the words) with pauses of 1 to 2 s, as ``UttStart``,
``UttAudio`` blocks, ``UttTentativeEnd`` after ``[vad] early_ms`` of silence and ``UttEnd`` after
``hangover_ms``; stream k starts k/N of a cycle later, so the load is spread. Per N: the final
latency (from an utterance's speech end to its final's publication, as `stenod bench` measures
it), the batch sizes the worker ran, and two lags: the most audio any inbox held before the
worker took it (``max_lag_s``) and how long the worker went on after the last audio
(``overrun_s``; near 0 when it keeps up). The
search (`multistream.find_capacity`: doubling, then bisection) finds the largest N whose p95
final latency stays within 1.5 s. Text and WER mean nothing here: only timing is measured.

Schema of one run (every key always present; a number is null when it could not be measured)::

    {"model", "device", "device_name", "dtype", "static_cache", "compile", "tokens", "streams", "duration_s",
     "final_latency_ms": {"p50", "p95", "max"}, "finals", "utterances", "missing", "decodes",
     "batch_sizes": {"<size>": <backend calls>}, "final_batch_sizes": {"<size>": <finals>},
     "max_lag_s", "overrun_s",
     "per_stream": [{"label", "finals", "utterances", "missing", "final_latency_ms": {"p50", "p95", "max"}}],
     "date", "machine"}

where an utterance whose final had not come when the run stopped (``extra_timeout_s`` after the
last audio) is ``missing`` and counts in the latencies with the time it had waited (a lower bound);
``overrun_s`` is how long the worker needed after the last audio.

and of the search: ``{"goal_p95_ms", "capacity", "measured": "...", "runs": [<run>, ...]}``.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from stenod import SAMPLE_RATE
from stenod.asr.synthetic import SyntheticBackend
from stenod.bench.multistream import CAPACITY_GOAL_MS, find_capacity, keeps_up
from stenod.bench.report import latency_stats
from stenod.bench.resources import machine
from stenod.config.sections import DecodeConfig, StreamConfig
from stenod.config.vad import VadConfig
from stenod.daemon.inbox import EndOfStream, Inbox, StreamInput, Timeline
from stenod.daemon.schedule import Scheduler
from stenod.daemon.segment import UttAudio, UttEnd, UttStart, UttTentativeEnd
from stenod.daemon.stats import Stats
from stenod.protocol import Final

BLOCK_S = 0.1  # audio per UttAudio event
MIN_DURATION_S = 7.0
MEASURED = ("timing only: random weights, forced token counts, synthetic audio; plain decoding "
            "(an assistant's acceptance on random weights would mean nothing, so speculative decoding "
            "is not part of the capacity search)")

SYNTH_SCHEMA: dict[str, Any] = {
    "model": str, "device": str, "device_name": str, "streams": int, "tokens": int, "duration_s": float,
    "final_latency_ms": {"p50": (float, type(None)), "p95": (float, type(None)), "max": (float, type(None))},
    "finals": int, "utterances": int, "missing": int, "decodes": int, "batch_sizes": dict, "max_lag_s": float,
    "per_stream": list,
}
"""Required keys and their types (see :func:`stenod.bench.report.schema_errors`)."""


@dataclass(frozen=True)
class Utt:
    """One simulated utterance: speech from `start` to `end` (samples, pre-roll not included)."""

    start: int
    end: int


def schedule(k: int, n: int, duration_s: float, seed: int = 0) -> list[Utt]:
    """Stream k's utterances (3-6 s, pauses 1-2 s) within `duration_s` (at least 7 s), starting
    k/n of a cycle in (of less than one where the duration is short: every stream speaks once)."""
    if duration_s < MIN_DURATION_S:
        raise ValueError(f"the duration must be at least {MIN_DURATION_S:g} s, got {duration_s:g}")
    rng = np.random.default_rng(seed + k)
    t, out = 0.2 + min(6.0, duration_s - 6.2) * k / n, []
    first = True
    while True:
        length = rng.uniform(3.0, 6.0)
        if first:  # always fits: t <= duration - 6.2 + 0.2
            length, first = min(length, duration_s - t), False
        elif t + length > duration_s:
            return out
        out.append(Utt(int(t * SAMPLE_RATE), int((t + length) * SAMPLE_RATE)))
        t += length + rng.uniform(1.0, 2.0)


def speech_like(n: int, seed: int) -> np.ndarray:
    """A 200 Hz tone with harmonics, amplitude-modulated at 4 Hz, in noise (float32, 16 kHz)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SAMPLE_RATE
    tone = sum(np.sin(2 * np.pi * 200 * h * t) / h for h in (1, 2, 3))
    return (0.2 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.02 * rng.standard_normal(n)).astype(np.float32)


def _events(utts: list[Utt], vad: VadConfig, voice: np.ndarray) -> list[tuple[int, object]]:
    """(sample at which the segmenter would queue it, event) for one stream, in order; every
    utterance's audio is the start of `voice` (the cost of a decode does not depend on it)."""
    preroll = int(vad.preroll_ms * SAMPLE_RATE / 1000)
    block = int(BLOCK_S * SAMPLE_RATE)
    out: list[tuple[int, object]] = []
    for i, u in enumerate(utts):
        begin = max(0, u.start - preroll)
        audio = voice[: u.end - begin]
        out.append((u.start, UttStart(i, begin)))
        for s in range(begin, u.end, block):
            e = min(u.end, s + block)
            out.append((max(e, u.start), UttAudio(i, s, audio[s - begin:e - begin])))
        if vad.early_ms:
            out.append((u.end + int(vad.early_ms * 16), UttTentativeEnd(i, u.end)))
        out.append((u.end + int(vad.hangover_ms * 16), UttEnd(i, u.end, "silence")))
    out.sort(key=lambda x: x[0])
    return out


def run_synthetic(backend: SyntheticBackend, n: int, duration_s: float = 20.0, *, max_batch: int | None = None,
                  extra_timeout_s: float = 5.0) -> dict[str, Any]:
    """N simulated streams for `duration_s` through one worker on `backend` (loaded and warmed up)."""
    stream_cfg, vad = StreamConfig(), VadConfig()
    backend.batches.clear()
    bell = threading.Event()
    plans = [schedule(k, n, duration_s) for k in range(n)]
    voice = speech_like(int((6.0 + vad.preroll_ms / 1000) * SAMPLE_RATE) + 1, seed=0)
    pending = sorted(((at, k, ev) for k, p in enumerate(plans) for at, ev in _events(p, vad, voice)),
                     key=lambda x: (x[0], x[1]))
    origin = time.monotonic_ns() + int(0.2e9)  # sample 0 of every stream, once the events are ready
    labels = [f"s{k + 1}" for k in range(n)]
    inputs = [StreamInput(label, Inbox(bell), Timeline(lambda: origin)) for label in labels]
    finals: list[tuple[str, int, Final]] = []
    done = threading.Event()
    errors: list[str] = []

    def publish(ev: object) -> None:
        if isinstance(ev, Final):
            finals.append((ev.stream, time.monotonic_ns(), ev))

    def on_done(error: str | None) -> None:
        if error:
            errors.append(error)
        done.set()

    from stenod.daemon.infer import InferenceWorker

    worker = InferenceWorker(lambda: backend, inputs, publish, stream_cfg.partial_interval_s,
                             vad.preroll_ms / 1000, Stats(), lambda _b: None, on_done,
                             decode=DecodeConfig(final_beams=1, prompt=False),
                             scheduler=Scheduler(max_batch or stream_cfg.max_batch))
    worker.start()
    max_lag, looked_ns = 0.0, 0
    for at, k, ev in pending:  # the segmenters: each event queued when its audio has arrived
        now = time.monotonic_ns()
        wait = origin + at * 1e9 / SAMPLE_RATE - now
        if wait > 0:
            if now - looked_ns > BLOCK_S * 1e9:  # the backlog, looked at once a block
                max_lag, looked_ns = max([max_lag, *(i.inbox.backlog_s for i in inputs)]), now
            time.sleep(wait / 1e9)
        inputs[k].inbox.put(ev)
    fed_ns = time.monotonic_ns()
    for i in inputs:
        i.inbox.put(EndOfStream())
    if not done.wait(extra_timeout_s):  # fallen behind: what is still undecoded counts as late
        worker.stop()  # it still decodes the finals of utterances that have ended
        if not done.wait(60):
            raise RuntimeError(f"the inference worker did not stop within 60 s of the end of {n} streams")
    stop_ns = time.monotonic_ns()
    if errors:
        raise RuntimeError(errors[0])
    return _result(backend, labels, plans, finals, duration_s, max_lag, (stop_ns - fed_ns) / 1e9,
                   lambda u: (stop_ns - (origin + u.end * 1e9 / SAMPLE_RATE)) / 1e6)


def _result(backend: SyntheticBackend, labels: list[str], plans: list[list[Utt]], finals, duration_s: float,
            max_lag: float, overrun_s: float, late_ms: Callable[[Utt], float]) -> dict[str, Any]:
    """The run's result; an utterance without a final counts with `late_ms(utt)` (how long it had
    waited when the run stopped: a lower bound of its latency)."""
    status = backend.status()
    per_stream, everyone = [], []
    final_sizes: collections.Counter[int] = collections.Counter(f.timings["batch_size"] for _, _, f in finals)
    for label, plan in zip(labels, plans):
        mine = [(ns, f) for s, ns, f in finals if s == label]
        lat = [(ns - f.timings["speech_end_mono_ns"]) / 1e6 for ns, f in mine]
        have = {f.utt for _, f in mine}
        lat += [late_ms(u) for i, u in enumerate(plan) if i not in have]
        everyone += lat
        per_stream.append({"label": label, "finals": len(mine), "utterances": len(plan),
                           "missing": len(plan) - len(have), "final_latency_ms": latency_stats(lat)})
    return {"model": backend.name, "device": status.device, "device_name": _device_name(status.device),
            "dtype": status.dtype,
            "static_cache": status.static_cache, "compile": status.compile,
            "tokens": backend.tokens,
            "streams": len(labels), "duration_s": float(duration_s),
            "final_latency_ms": latency_stats(everyone), "finals": len(finals),
            "missing": sum(s["missing"] for s in per_stream),
            "utterances": sum(len(p) for p in plans), "decodes": sum(backend.batches.values()),
            "batch_sizes": {str(k): v for k, v in sorted(backend.batches.items())},
            "final_batch_sizes": {str(k): v for k, v in sorted(final_sizes.items())},
            "max_lag_s": round(max_lag, 3), "overrun_s": round(overrun_s, 3), "per_stream": per_stream,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine()}


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"


def search_capacity(backend: SyntheticBackend, limit: int, duration_s: float, say: Callable[[str], None],
                    max_batch: int | None = None, goal_ms: float = CAPACITY_GOAL_MS,
                    keep: Callable[[dict[str, Any]], None] = lambda _r: None, start: int = 1) -> dict[str, Any]:
    """The largest N within the goal (`multistream.find_capacity`), each N run for `duration_s`;
    `start`: the first N tried (the doubling begins there); `keep` gets the search so far
    (``capacity`` null) after every run, so a search cut short by a time limit leaves its runs."""
    runs: list[dict[str, Any]] = []

    def run(n: int) -> dict[str, Any]:
        runs.append(run_synthetic(backend, n, duration_s, max_batch=max_batch))
        keep({"goal_p95_ms": goal_ms, "capacity": None, "measured": MEASURED, "runs": runs})
        return runs[-1]

    found = find_capacity(run, say, limit, goal_ms, start)
    return {"goal_p95_ms": found["goal_p95_ms"], "capacity": found["capacity"], "measured": MEASURED,
            "runs": found["runs"]}


def format_run(r: dict[str, Any]) -> str:
    """One line per run, for the terminal and summary.md."""
    lat = r["final_latency_ms"]

    def ms(v):
        return "-" if v is None else f"{v:.0f}"

    sizes = ", ".join(f"{k}x{v}" for k, v in r["batch_sizes"].items()) or "-"
    return (f"| {r['streams']} | {r['finals']}/{r['utterances']} | {ms(lat['p50'])} | {ms(lat['p95'])} | "
            f"{ms(lat['max'])} | {r['max_lag_s']:.2f} | {r['overrun_s']:.1f} | {sizes} |")


def format_search(found: dict[str, Any]) -> str:
    first = found["runs"][0]
    mode = ("static cache + compile" if first["compile"] else "static cache" if first["static_cache"]
            else "dynamic cache")
    if found["capacity"] is None:
        verdict = "keeps up" if keeps_up(first, found["goal_p95_ms"]) else "falls behind"
        head = f"One run of {first['streams']} streams ({verdict})"
    else:
        head = f"Capacity **{found['capacity']} streams**"
    lines = [f"{head} with p95 final latency <= {found['goal_p95_ms']:.0f} ms: {first['model']} on "
             f"{first['device_name']} ({first['device']}, {first['dtype']}, {mode}, {first['tokens']} tokens per decode, "
             f"{first['duration_s']:g} s per run). Measured: {found['measured']}.", "",
             "| streams | finals | p50 ms | p95 ms | max ms | max inbox s | overrun s | batch sizes (size x calls) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | :--- |"]
    return "\n".join(lines + [format_run(r) for r in found["runs"]])

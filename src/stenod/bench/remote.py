"""`stenod bench --remote URL`: the streaming pass once with the local model and once through the
inference service, on the same stream, and what the service costs as ratios."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from stenod.bench.report import num
from stenod.bench.runner import BenchOptions, load_settings, run_bench


def run_remote_bench(opts: BenchOptions, remote: str, token_file: str | None, progress: Callable[[str], None],
                     line: Callable[[str], None]) -> dict[str, Any]:
    """The local result, with ``remote`` = the service's streaming figures and their ratios to the
    local ones (``overhead``)."""
    sets = (*opts.sets, f"model.remote={remote}", *((f"model.token_file={token_file}",) if token_file else ()))
    load_settings(replace(opts, sets=sets))  # a bad URL is an error now, not after the local run
    local = run_bench(opts, progress, line)
    line(f"again through the service at {remote}")
    other = run_bench(replace(opts, sets=sets, skip_offline=True), progress, line)
    ls, rs = local["streaming"], other["streaming"]
    local["remote"] = {
        "url": remote, "device": other["device"], "streaming": rs, "resources": other["resources"],
        "overhead": {
            "final_latency_p50_ratio": _ratio(rs["final_latency_ms"]["p50"], ls["final_latency_ms"]["p50"]),
            "final_latency_p95_ratio": _ratio(rs["final_latency_ms"]["p95"], ls["final_latency_ms"]["p95"]),
            "first_partial_p50_ratio": _ratio(rs["first_partial_ms"]["p50"], ls["first_partial_ms"]["p50"]),
            "wer_points": num(None if rs["wer"] is None or ls["wer"] is None else rs["wer"] - ls["wer"], 2),
        },
    }
    return local


def _ratio(a: float | None, b: float | None) -> float | None:
    return num(a / b, 3) if a is not None and b else None


def format_remote(r: dict[str, Any]) -> str:
    rem = r["remote"]
    ls, rs, o = r["streaming"], rem["streaming"], rem["overhead"]
    rows = [("", "local", "remote", "remote/local"),
            ("streaming WER %", f"{ls['wer']}", f"{rs['wer']}", f"{o['wer_points']:+} points"
             if o["wer_points"] is not None else "-"),
            ("final latency p50 ms", f"{ls['final_latency_ms']['p50']}", f"{rs['final_latency_ms']['p50']}",
             f"{o['final_latency_p50_ratio']}"),
            ("final latency p95 ms", f"{ls['final_latency_ms']['p95']}", f"{rs['final_latency_ms']['p95']}",
             f"{o['final_latency_p95_ratio']}"),
            ("first partial p50 ms", f"{ls['first_partial_ms']['p50']}", f"{rs['first_partial_ms']['p50']}",
             f"{o['first_partial_p50_ratio']}"),
            ("finals / utterances", f"{ls['finals']}/{ls['utterances']}", f"{rs['finals']}/{rs['utterances']}", "")]
    out = [f"remote: {rem['url']} ({rem['device']})"]
    out += [f"  {a:<22}{b:>10}{c:>10}{d:>16}" for a, b, c, d in rows]
    return "\n".join(out)

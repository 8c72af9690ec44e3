"""The benchmark's outputs: progress on stderr, the result dictionary (the ``--json`` schema), and
the table printed on stdout.

Schema (every key always present; a number is null when it could not be measured, e.g. latency
when no final arrived, or a part that was skipped)::

    {"model", "device", "assistant_model",
     "offline":   {"wer", "clips", "median_s", "rtf", ...},
     "streaming": {"wer", "utterances", "finals",
                   "final_latency_ms": {"p50", "p95", "max"}, "first_partial_ms": {"p50", "p95"},
                   "hallucinated_words", ...},
     "noise":     {"files", "words", ...},
     "resources": {"idle_cpu_pct", "peak_rss_mb", "ready_s", ...}}

WER in percent after :func:`stenod.bench.metrics.normalize`; latencies in wall-clock ms.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from stenod.bench.metrics import percentiles

SCHEMA: dict[str, Any] = {
    "model": str, "device": str, "assistant_model": (str, type(None)),
    "offline": {"wer": float, "clips": int, "median_s": float, "rtf": float},
    "streaming": {"wer": float, "utterances": int, "finals": int,
                  "final_latency_ms": {"p50": float, "p95": float, "max": float},
                  "first_partial_ms": {"p50": float, "p95": float},
                  "hallucinated_words": int},
    "noise": {"files": int, "words": int},
    "resources": {"idle_cpu_pct": float, "peak_rss_mb": float, "ready_s": float},
}
"""Required keys and their types (a number may also be null when it was not measured)."""

STATUS_MARK = {"ok": ".", "merged": "M", "split": "S", "missing": "_"}
"""One character per utterance in the table's status line."""

OTHER_LOAD_WARN_PCT = 10.0
"""Above this (percent of one core used by other processes during the run) the table warns."""


def schema_errors(result: Any, schema: dict[str, Any] = SCHEMA, where: str = "") -> list[str]:
    """What in ``result`` does not follow :data:`SCHEMA` (empty when it does)."""
    if not isinstance(result, dict):
        return [f"{where or 'result'}: expected an object"]
    errors = []
    for key, kind in schema.items():
        path = f"{where}.{key}" if where else key
        if key not in result:
            errors.append(f"{path}: missing")
        elif isinstance(kind, dict):
            errors.extend(schema_errors(result[key], kind, path))
        else:
            value = result[key]
            numeric = kind in (int, float)
            ok = (value is None and (numeric or kind != str)) or (
                isinstance(value, kind) and not isinstance(value, bool)) or (
                kind is float and isinstance(value, int) and not isinstance(value, bool))
            if not ok:
                errors.append(f"{path}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return errors


def num(value: Any, digits: int = 2) -> float | None:
    """A JSON-safe rounded number: None for None/NaN/inf."""
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), digits)


def latency_stats(values: list[float], keys=("p50", "p95", "max")) -> dict[str, float | None]:
    stats = percentiles(values)
    return {k: num(stats[k], 1) for k in keys}


def write_json(result: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------- the table


def _f(value: Any, fmt: str, unit: str = "") -> str:
    return "–" if value is None else f"{value:{fmt}}{unit}"


def format_report(r: dict[str, Any]) -> str:
    """The result as a short table for a person."""
    o, s, n, res = r["offline"], r["streaming"], r["noise"], r["resources"]
    fl, fp = s["final_latency_ms"], s["first_partial_ms"]
    assistant = f" + assistant {r['assistant_model']}" if r.get("assistant_model") else ""
    speed = r.get("speed", 1.0)
    clock = "wall clock" + (f", audio at {speed:g}x" if speed != 1 else "")
    if r.get("via_mic"):
        clock += ", via a microphone: from the sink's playback clock"
    m = r.get("machine") or {}
    host = f", {m['cpu']}, {m.get('cpus')} cores" if m.get("cpu") else ""
    lines = [f"stenod bench: {r['model']} on {r['device']}{assistant}{host}  ({r.get('corpus', '')})", ""]
    if o.get("skipped"):
        lines.append("offline      skipped")
    else:
        lines.append(f"offline      WER {_f(o['wer'], '.2f', ' %')}   {o['clips']} clips   "
                     f"median {_f(o['median_s'], '.3f', ' s')}/clip   RTF {_f(o['rtf'], '.3f')}")
    if s.get("skipped"):
        lines.append("streaming    skipped")
    else:
        lines += [
            f"streaming    WER {_f(s['wer'], '.2f', ' %')}   {s['utterances']} utterances, {s['finals']} finals "
            f"({s.get('missing', 0)} missing, {s.get('merged', 0)} merging, {s.get('split', 0)} split"
            + (f"; {s['events_lost']} events lost in transport" if s.get("events_lost") else "") + ")",
            f"  final latency      p50 {_f(fl['p50'], '.0f', ' ms')}   p95 {_f(fl['p95'], '.0f', ' ms')}   "
            f"max {_f(fl['max'], '.0f', ' ms')}   (true end of speech -> final received, {clock})",
            f"  first partial      p50 {_f(fp['p50'], '.0f', ' ms')}   p95 {_f(fp['p95'], '.0f', ' ms')}   "
            f"(true start of speech -> first text received)",
        ]
        b = s.get("latency_breakdown") or {}
        if b.get("true_end_to_endpoint_ms_p50") is not None:
            share = b.get("early_decode_share")
            lines.append(f"  where it goes      true end -> endpoint p50 {_f(b['true_end_to_endpoint_ms_p50'], '.0f', ' ms')}"
                         f" (VAD end {_f(b.get('vad_end_offset_ms_p50'), '+.0f', ' ms')}), endpoint -> received "
                         f"p50 {_f(b['endpoint_to_received_ms_p50'], '.0f', ' ms')}; decode p50 "
                         f"{_f(b.get('inference_ms_p50'), '.0f', ' ms')}, early finals "
                         f"{_f(None if share is None else 100 * share, '.0f', ' %')}")
        if b.get("true_end_to_decode_start_ms_p50") is not None:
            share = b.get("sentence_end_share")
            lines.append(f"  final decode       starts p50 {_f(b['true_end_to_decode_start_ms_p50'], '.0f', ' ms')} after "
                         f"the true end, its end -> endpoint p50 {_f(b.get('decode_end_to_endpoint_ms_p50'), '.0f', ' ms')}"
                         f"; ended early on a sentence {_f(None if share is None else 100 * share, '.0f', ' %')}")
        statuses = [u["status"] for u in (r.get("details") or {}).get("utterances", [])]
        if statuses:
            lines.append("  per utterance      " + " ".join(STATUS_MARK[st] for st in statuses)
                         + "   (" + ", ".join(f"{m} {st}" for st, m in STATUS_MARK.items()) + ")")
            for u in r["details"]["utterances"]:
                if u["status"] != "ok":
                    lines.append(f"    #{u['index']} {u['status']:7s} {u['start']:.2f}-{u['end']:.2f} s  "
                                 f"ref: {u['ref']}  hyp: {u['hyp'] or '–'}")
        if s.get("latency_excluded"):
            lines.append(f"  ({s['latency_excluded']} utterances ended before the daemon was ready: not in latency)")
        lines.append(f"  hallucinated words {s['hallucinated_words']}  (session pauses and silence "
                     f"{s.get('nonspeech_words', 0)}, noise files {n['words']} over {n['files']} files)")
    lines.append(f"resources    idle CPU {_f(res['idle_cpu_pct'], '.2f', ' %')} of a core   "
                 f"peak RSS {_f(res['peak_rss_mb'], '.0f', ' MB')}   ready {_f(res['ready_s'], '.1f', ' s')}")
    other = res.get("other_load_pct")
    if other is not None and other >= OTHER_LOAD_WARN_PCT:
        lines.append(f"warning: other processes used {other:.0f} % of a core on average during this run; "
                     "its timings are not comparable with a quiet run")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ two runs


def _dig(r: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        if not isinstance(r, dict) or key not in r:
            return None
        r = r[key]
    return r


COMPARE_ROWS = (
    ("offline WER %", "offline.wer", ".2f"), ("streaming WER %", "streaming.wer", ".2f"),
    ("utterances", "streaming.utterances", "d"), ("finals", "streaming.finals", "d"),
    ("missing", "streaming.missing", "d"), ("merging finals", "streaming.merged", "d"),
    ("split", "streaming.split", "d"),
    ("final latency p50 ms", "streaming.final_latency_ms.p50", ".0f"),
    ("final latency p95 ms", "streaming.final_latency_ms.p95", ".0f"),
    ("final latency max ms", "streaming.final_latency_ms.max", ".0f"),
    ("first partial p50 ms", "streaming.first_partial_ms.p50", ".0f"),
    ("decode p50 ms", "streaming.latency_breakdown.inference_ms_p50", ".0f"),
    ("true end->endpoint p50", "streaming.latency_breakdown.true_end_to_endpoint_ms_p50", ".0f"),
    ("final decode start p50", "streaming.latency_breakdown.true_end_to_decode_start_ms_p50", ".0f"),
    ("decode end->endpoint p50", "streaming.latency_breakdown.decode_end_to_endpoint_ms_p50", ".0f"),
    ("sentence ends share", "streaming.latency_breakdown.sentence_end_share", ".2f"),
    ("hallucinated words", "streaming.hallucinated_words", "d"),
    ("idle CPU % of a core", "resources.idle_cpu_pct", ".2f"), ("peak RSS MB", "resources.peak_rss_mb", ".0f"),
    ("ready s", "resources.ready_s", ".1f"), ("other load % of a core", "resources.other_load_pct", ".0f"),
)


def format_compare(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str] = ("A", "B")) -> str:
    """Two ``--json`` results side by side, with B/A for the numbers, then the utterances whose
    status differs."""
    lines = [f"A: {names[0]}  ({a.get('model')} on {a.get('device')}, {a.get('date', '')})",
             f"B: {names[1]}  ({b.get('model')} on {b.get('device')}, {b.get('date', '')})", "",
             f"{'':24s}{'A':>10s}{'B':>10s}{'B/A':>8s}"]
    for label, path, fmt in COMPARE_ROWS:
        va, vb = _dig(a, path), _dig(b, path)
        if va is None and vb is None:
            continue
        ratio = f"{vb / va:.2f}" if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va else ""
        lines.append(f"{label:24s}{_f(va, fmt):>10s}{_f(vb, fmt):>10s}{ratio:>8s}")
    ua = (a.get("details") or {}).get("utterances", [])
    ub = (b.get("details") or {}).get("utterances", [])
    if ua and ub:
        lines += ["", "per utterance  A " + " ".join(STATUS_MARK.get(u["status"], "?") for u in ua),
                  "               B " + " ".join(STATUS_MARK.get(u["status"], "?") for u in ub)]
        for x, y in zip(ua, ub):
            if x["status"] != y["status"] or x["hyp"] != y["hyp"]:
                lines.append(f"  #{x['index']} {x['ref']}")
                lines.append(f"     A {x['status']:7s} {x['hyp'] or '–'}")
                lines.append(f"     B {y['status']:7s} {y['hyp'] or '–'}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- progress


class Progress:
    """Progress on stderr: one line rewritten in place on a terminal; elsewhere a plain line
    when the phase changes or every ``interval_s`` seconds."""

    def __init__(self, stream: TextIO | None = None, interval_s: float = 10.0, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s, self.enabled = interval_s, enabled
        self._phase, self._last, self._shown = None, 0.0, False

    def __call__(self, msg: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\x1b[K" + msg)
            self.stream.flush()
            self._shown = True
            return
        phase = re.split(r"\d", msg, maxsplit=1)[0]
        now = time.monotonic()
        if phase != self._phase or now - self._last >= self.interval_s:
            self._phase, self._last = phase, now
            print(msg, file=self.stream, flush=True)

    def line(self, msg: str) -> None:
        """A message that stays."""
        if not self.enabled:
            return
        self.clear()
        print(msg, file=self.stream, flush=True)
        self._phase = None

    def clear(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

"""``--plot``: the stream's timeline as the subscriber saw it (needs matplotlib, the ``bench``
extra). Top: the true speech spans, nonspeech bursts and noise files; the finals' audio spans and
the moment each arrived (a line joins an utterance's true end to its final's arrival); the
arrival of every partial. Bottom: the latency of each final. The x axis is stream time in
seconds; arrival times are mapped onto it through the stream's origin and speed.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from stenod.bench.score import StreamScore
from stenod.bench.streaming import StreamRun


def draw(run: StreamRun, score: StreamScore, path: str | Path, title: str = "", goal_ms: float = 600.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plan, origin, speed = run.plan, run.origin_ns, run.speed

    def at(ns: int) -> float:
        return (ns - origin) / 1e9 * speed

    fig, (ax, lat) = plt.subplots(2, 1, figsize=(18, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    y_truth, y_final, y_partial = 3.0, 2.0, 1.0
    for s in plan.noise:
        ax.barh(y_truth, s.end - s.start, left=s.start, height=0.5, color="0.75")
        ax.text((s.start + s.end) / 2, y_truth + 0.35, s.label, ha="center", fontsize=7, color="0.3")
    if plan.idle:
        ax.barh(y_truth, plan.idle.end - plan.idle.start, left=plan.idle.start, height=0.5, color="0.92",
                hatch="//", edgecolor="0.7")
        ax.text((plan.idle.start + plan.idle.end) / 2, y_truth + 0.35, "silence (idle CPU)", ha="center",
                fontsize=7, color="0.3")
    for s in plan.nonspeech:
        ax.barh(y_truth, s.end - s.start, left=s.start, height=0.5, color="tab:orange")
    for u in score.utterances:
        ax.barh(y_truth, u.span.end - u.span.start, left=u.span.start, height=0.5,
                color="tab:green" if u.status == "ok" else "tab:red")
    for f in score.finals:
        a = f.arrival
        color = {"speech": "tab:blue", "retracted": "0.6"}.get(f.kind, "tab:red")
        ax.barh(y_final, max(a.end_s - a.start_s, 0.02), left=a.start_s, height=0.4, color=color, alpha=0.6)
        ax.plot([at(a.recv_ns)], [y_final - 0.3], marker="v", color=color, markersize=5)
    for u in score.utterances:
        if u.final_latency_ms is not None:
            arrive = u.span.end + u.final_latency_ms / 1e3 * speed
            ax.plot([u.span.end, arrive], [y_truth - 0.25, y_final - 0.3], color="tab:blue", lw=0.8)
    partials = [at(a.recv_ns) for a in run.arrivals if not a.final]
    ax.plot(partials, [y_partial] * len(partials), "|", color="tab:purple", markersize=10)
    if run.ready_ns is not None:
        for axis in (ax, lat):
            axis.axvline(at(run.ready_ns), color="k", ls=":", lw=1)
        ax.text(at(run.ready_ns), 3.6, " model ready", fontsize=8)
    ax.set_yticks([y_partial, y_final, y_truth],
                  ["partials\n(arrival)", "finals\n(audio span,\n▼ arrival)", "truth\n(speech, noise)"])
    ax.set_ylim(0.4, 3.9)
    ax.set_title(title or "stenod bench: session timeline")

    xs = [u.span.end for u in score.utterances if u.final_latency_ms is not None]
    ys = [u.final_latency_ms for u in score.utterances if u.final_latency_ms is not None]
    if xs:
        lat.vlines(xs, 0, ys, color="tab:blue", lw=2)
        lat.plot(xs, ys, "o", color="tab:blue", markersize=4)
        values = score.final_latencies
        if values:
            p50 = statistics.median(values)
            lat.axhline(p50, color="tab:blue", ls="--", lw=1, label=f"p50 {p50:.0f} ms")
    lat.axhline(goal_ms, color="tab:red", ls=":", lw=1, label=f"goal {goal_ms:.0f} ms")
    lat.set_ylabel("final latency (ms, wall)")
    lat.set_xlabel("stream time (s)")
    lat.set_ylim(bottom=0)
    lat.legend(loc="upper right", fontsize=8)
    lat.set_xlim(0, max([plan.duration, *(at(a.recv_ns) + 1 for a in run.arrivals)]))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

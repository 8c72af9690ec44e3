"""What the daemon costs: CPU time and peak memory of its process, sampled from /proc; and the
machine it ran on (:func:`machine`), recorded with every result.

``/proc/<pid>/stat`` gives the process's user+system CPU time (all threads) in clock ticks,
``/proc/<pid>/status`` its peak resident set (VmHWM). The sampler records both every few hundred
milliseconds with the monotonic time, so CPU use over any window (the silent stretch) is
computed afterwards from the samples that bracket it.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine() -> dict[str, object]:
    """The machine a result was measured on: CPU model and count, platform, Python."""
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        pass
    return {"cpu": model or platform.processor() or None, "cpus": os.cpu_count(), "platform": platform.platform(),
            "machine": platform.machine(), "python": platform.python_version()}


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process in clock ticks, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()  # the command name may hold spaces
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5), counted from 1


def peak_rss_kb(pid: int) -> int | None:
    """VmHWM (peak resident set size) of a process in KiB, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class ProcSampler:
    """Samples one process; call :meth:`sample` regularly while it runs."""

    pid: int
    samples: list[tuple[int, int]] = field(default_factory=list)  # (monotonic ns, CPU ticks)
    peak_kb: int | None = None

    def sample(self) -> None:
        now = time.monotonic_ns()
        ticks = cpu_ticks(self.pid)
        if ticks is None:
            return
        self.samples.append((now, ticks))
        rss = peak_rss_kb(self.pid)
        if rss is not None:
            self.peak_kb = max(rss, self.peak_kb or 0)

    def cpu_pct(self, start_ns: int, end_ns: int) -> tuple[float | None, float]:
        """CPU use in percent of one core between the first sample at or after ``start_ns`` and the
        last at or before ``end_ns``; returns (percent or None, seconds actually covered)."""
        inside = [s for s in self.samples if start_ns <= s[0] <= end_ns]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None, 0.0
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        seconds = (t1 - t0) / 1e9
        return 100.0 * (c1 - c0) / CLOCK_TICKS / seconds, seconds

    @property
    def peak_rss_mb(self) -> float | None:
        return None if self.peak_kb is None else self.peak_kb / 1024.0


def _machine_busy_s() -> float | None:
    """CPU seconds the whole machine spent busy (all cores) since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS  # all but idle and iowait


def _own_cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (the daemon, the subscriber)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class OtherLoad:
    """How much CPU *other* processes used while the benchmark ran, in percent of one core:
    the machine's busy time minus this process tree's. Timings taken while this is high (other
    jobs on a small machine) are not comparable with quiet runs."""

    t0: float = field(default_factory=time.monotonic)
    busy0: float | None = field(default_factory=_machine_busy_s)
    own0: float = field(default_factory=_own_cpu_s)

    def pct(self) -> float | None:
        busy, seconds = _machine_busy_s(), time.monotonic() - self.t0
        if busy is None or self.busy0 is None or seconds <= 0:
            return None
        return max(0.0, 100.0 * ((busy - self.busy0) - (_own_cpu_s() - self.own0)) / seconds)

"""The streaming run: the real daemon replays the stream plan's WAV at real time (or ``speed``),
a subscriber in a separate process timestamps every event it receives, and this process samples
the daemon's CPU time and memory from /proc while it runs.

Nothing is simulated: ``python -m stenod run --source file:WAV --exit-at-end`` with its own
threads, ring, VAD, inference worker and ZeroMQ publisher; ``python -m stenod.bench.listen`` as
the client. Events are decoded with :func:`stenod.protocol.decode`, so a wire-format slip fails
the benchmark instead of skewing it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from stenod.bench.corpus import StreamPlan
from stenod.bench.resources import ProcSampler
from stenod.bench.score import Arrival


class BenchError(RuntimeError):
    """The benchmark could not run; the message is meant for the user."""


@dataclass
class StreamRun:
    plan: StreamPlan
    speed: float
    started_ns: int  # just before the daemon process was started
    arrivals: list[Arrival]
    statuses: list[tuple[str, int, dict]]  # (state, recv_ns, detail)
    control: dict[str, Any] | None
    sampler: ProcSampler
    returncode: int
    log: str
    lost: int = 0  # events missing from the seq sequence (lost between daemon and subscriber)
    model: str | None = None
    device: str | None = None
    ended_ns: int = 0
    playback_origin_ns: int | None = None  # via a microphone: when the stream's sample 0 reached the sink

    @property
    def ready_ns(self) -> int | None:
        return next((ns for state, ns, _ in self.statuses if state in ("ready", "paused")), None)

    @property
    def origin_ns(self) -> int | None:
        """Monotonic time of sample 0 of the stream: its playback (via a microphone), else from the
        control status or any final."""
        if self.playback_origin_ns is not None:
            return self.playback_origin_ns
        if self.control and isinstance(self.control.get("stream_origin_mono_ns"), int):
            return self.control["stream_origin_mono_ns"]
        return next((a.timings["stream_origin_mono_ns"] for a in self.arrivals
                     if isinstance(a.timings.get("stream_origin_mono_ns"), int)), None)


@dataclass
class _Tail:
    """Reads the lines a writer appends to a file, one complete line at a time."""

    path: Path
    pos: int = 0
    buf: bytes = b""
    records: list[dict] = field(default_factory=list)

    def poll(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self.pos += len(data)
        lines = (self.buf + data).split(b"\n")
        self.buf = lines.pop()
        new = [json.loads(line) for line in lines if line.strip()]
        self.records.extend(new)
        return new


def _decode(records: list[dict]) -> tuple[list[Arrival], list[tuple[str, int, dict]], dict | None, int]:
    """Typed arrivals, status changes, the control status reply, and how many ``seq`` numbers
    are missing after the first event received (events lost on the way)."""
    from stenod import protocol

    arrivals, statuses, control, seqs = [], [], None, []
    for r in records:
        topic, recv = r["topic"], int(r["recv_mono_ns"])
        if topic == "control.status":
            control = r["event"] if r["event"].get("ok") else None
            continue
        if topic == "listener.ready":
            continue
        try:
            event = protocol.decode([topic.encode(), json.dumps(r["event"]).encode()])
        except protocol.UnknownEvent:
            continue
        except protocol.ProtocolError as exc:
            raise BenchError(f"the daemon sent a malformed event: {exc}") from None
        seqs.append(event.seq)
        if isinstance(event, (protocol.Partial, protocol.Final)):
            arrivals.append(Arrival.from_event(event, recv))
        elif isinstance(event, protocol.StatusEvent):
            statuses.append((event.state, recv, dict(event.detail)))
    lost = sum(max(0, b - a - 1) for a, b in zip(seqs, seqs[1:]))
    return arrivals, statuses, control, lost


def _stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def start_listener(workdir: Path, env: dict[str, str], events_ep: str, control_ep: str,
                   tail: _Tail) -> subprocess.Popen:
    """Start the benchmark subscriber (``stenod.bench.listen``, writing ``workdir/events.jsonl``)
    and wait until its first record arrives; stopped again if it does not start."""
    with open(workdir / "listener.log", "wb") as listener_log:
        listener = subprocess.Popen([sys.executable, "-m", "stenod.bench.listen", events_ep,
                                     str(workdir / "events.jsonl"), "--control", control_ep], env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=listener_log)
    deadline = time.monotonic() + 30
    while not tail.poll():
        if listener.poll() is not None or time.monotonic() > deadline:
            _stop(listener)
            raise BenchError(f"the benchmark subscriber did not start (exit {listener.poll()}): "
                             + (workdir / "listener.log").read_text(errors="replace")[-2000:])
        time.sleep(0.05)
    return listener


def spawn_daemon(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start the daemon under test, its stderr into ``log_path``."""
    with open(log_path, "wb") as logf:
        return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logf)


def run_stream(plan: StreamPlan, workdir: Path, *, speed: float = 1.0, daemon_args: list[str] = (),
               progress: Callable[[str], None] | None = None, env: dict[str, str] | None = None,
               extra_timeout_s: float = 300.0) -> StreamRun:
    """Replay ``plan.wav`` through the daemon and collect what a subscriber received."""
    say = progress or (lambda _msg: None)
    events_ep, control_ep = f"ipc://{workdir}/events", f"ipc://{workdir}/control"
    out, log_path = workdir / "events.jsonl", workdir / "daemon.log"
    env = {**(env or os.environ), "PYTHONUNBUFFERED": "1"}
    tail = _Tail(out)
    listener = start_listener(workdir, env, events_ep, control_ep, tail)
    daemon = None
    try:
        cmd = [sys.executable, "-m", "stenod", "run", "--source", f"file:{plan.wav}", "--speed", repr(speed),
               "--exit-at-end", "--events", events_ep, "--control", control_ep, *daemon_args]
        say("streaming: starting the daemon")
        started = time.monotonic_ns()
        daemon = spawn_daemon(cmd, env, log_path)
        sampler = ProcSampler(daemon.pid)
        limit_ns = started + int((plan.duration / speed + extra_timeout_s) * 1e9)
        origin = finals = None
        while daemon.poll() is None:
            sampler.sample()
            for r in tail.poll():
                if r["topic"] == "control.status" and isinstance(r["event"].get("stream_origin_mono_ns"), int):
                    origin = r["event"]["stream_origin_mono_ns"]
                elif r["topic"].endswith("transcript.final"):
                    finals = (finals or 0) + 1
            now = time.monotonic_ns()
            if origin is None:
                say(f"streaming: daemon loading the model ({(now - started) / 1e9:.0f} s)")
            else:
                pos = min(plan.duration, (now - origin) / 1e9 * speed)
                say(f"streaming {pos:.0f} s / {plan.duration:.0f} s of audio ({_section(plan, pos)}), "
                    f"{finals or 0} finals")
            if now > limit_ns:
                _stop(daemon)
                raise BenchError(f"the daemon did not finish within {plan.duration / speed + extra_timeout_s:.0f} s; "
                                 f"log: {log_path}")
            time.sleep(0.2)
        ended = time.monotonic_ns()
        try:
            listener.wait(5)
        except subprocess.TimeoutExpired:
            _stop(listener)
        tail.poll()
    finally:
        if daemon is not None:
            _stop(daemon)
        _stop(listener)
    log = log_path.read_text(errors="replace")
    if daemon.returncode != 0:
        raise BenchError(f"the daemon exited with status {daemon.returncode}:\n" + log[-3000:])
    arrivals, statuses, control, lost = _decode(tail.records)
    ready = next((d for s, _, d in statuses if s in ("ready", "paused")), {})
    return StreamRun(plan, speed, started, arrivals, statuses, control, sampler, daemon.returncode, log, lost,
                     model=ready.get("model") or (control or {}).get("model"),
                     device=ready.get("device") or (control or {}).get("device"), ended_ns=ended)


def _section(plan: StreamPlan, pos: float) -> str:
    for spans, name in ((plan.noise, "noise files"), (plan.sessions, "session")):
        if any(s.start <= pos < s.end for s in spans):
            return name
    if plan.idle and pos >= plan.idle.start:
        return "silence, idle CPU"
    return "pause"


def idle_window(run: StreamRun, margin_s: float = 0.5) -> tuple[int, int] | None:
    """The monotonic window of the silent stretch in which the daemon had nothing left to do:
    from ``margin_s`` after both the stretch's start and the last transcript event received, to
    the stretch's end. None when that leaves less than a second (the daemon was still catching
    up), so a busy daemon is never reported as idle."""
    plan, origin = run.plan, run.origin_ns
    if plan.idle is None or origin is None:
        return None
    start = origin + plan.idle.start / run.speed * 1e9
    end = origin + plan.idle.end / run.speed * 1e9
    last = max((a.recv_ns for a in run.arrivals), default=0)
    begin = max(start, last) + margin_s * 1e9
    return (int(begin), int(end)) if end - begin >= 1e9 else None

"""`stenod bench --via-mic`: the streaming pass through a microphone instead of a file.

A null sink and a source fed by its monitor are added to the running PulseAudio/PipeWire server
for the run (and removed after it); the daemon captures that source with `--source mic`, like any
microphone, while this process plays the stream WAV into the sink with :class:`Player`. Latency is
measured from the sink's playback clock (when each sample reached the sink), not from when playing
was asked for. The daemon's own audio positions are shifted onto the plan's by the difference
between its stream origin and the playback's, so finals are matched to utterances as in the file
bench.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from stenod import SAMPLE_RATE
from stenod.bench.corpus import StreamPlan
from stenod.bench.resources import ProcSampler
from stenod.bench.streaming import BenchError, StreamRun, _decode, _stop, _Tail, spawn_daemon, start_listener

SETTLE_S = 4.0  # after the playback ends, how long without a transcript event before stopping the daemon


def _pactl(*args: str) -> str:
    try:
        out = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        raise BenchError("--via-mic needs pactl (PulseAudio or PipeWire's pulse server tools)") from None
    if out.returncode != 0:
        raise BenchError(f"--via-mic: `pactl {' '.join(args)}` failed (is a PulseAudio/PipeWire server "
                         f"running?): {out.stderr.strip()}")
    return out.stdout.strip()


class VirtualMic:
    """A null sink and a source recording its monitor, on the current sound server."""

    def __init__(self) -> None:
        tag = f"stenod-bench-{os.getpid()}"
        self.sink, self.source = tag, f"{tag}-mic"
        _pactl("info")
        self.modules = [_pactl("load-module", "module-null-sink", f"sink_name={self.sink}", "channels=1",
                               f"sink_properties=device.description={tag}")]
        try:
            self.modules.append(_pactl("load-module", "module-remap-source", f"source_name={self.source}",
                                       f"master={self.sink}.monitor"))
        except BenchError:
            self.remove()
            raise

    def remove(self) -> None:
        for module in reversed(self.modules):
            subprocess.run(["pactl", "unload-module", module], capture_output=True, timeout=10)
        self.modules = []


def run_via_mic(plan: StreamPlan, workdir: Path, *, daemon_args: list[str] = (),
                progress: Callable[[str], None] | None = None,
                extra_timeout_s: float = 300.0) -> tuple[StreamRun, Callable[[float], float]]:
    """Play ``plan.wav`` into a virtual microphone the daemon listens to; the run and the plan's
    clock (``due(t)``: the monotonic time stream second ``t`` reached the sink)."""
    from stenod.audio import load_audio
    from stenod.bench.playback import PlaybackError, Player

    say = progress or (lambda _msg: None)
    pcm = (np.clip(load_audio(plan.wav), -1.0, 1.0) * 32767).astype(np.int16)
    mic = VirtualMic()
    os.environ["PULSE_SINK"] = mic.sink  # read by the pulse plugin when the player's stream opens
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PULSE_SOURCE": mic.source}
    events_ep, control_ep = f"ipc://{workdir}/events", f"ipc://{workdir}/control"
    out, log_path = workdir / "events.jsonl", workdir / "daemon.log"
    tail = _Tail(out)
    daemon = listener = player = None
    try:
        try:
            player = Player()  # silence from now on: the sink renders in small blocks
        except PlaybackError as exc:
            raise BenchError(f"--via-mic: {exc}") from None
        listener = start_listener(workdir, env, events_ep, control_ep, tail)
        cmd = [sys.executable, "-m", "stenod", "run", "--source", "mic", "--events", events_ep,
               "--control", control_ep, *daemon_args]
        say("via-mic: starting the daemon")
        started = time.monotonic_ns()
        daemon = spawn_daemon(cmd, env, log_path)
        sampler = ProcSampler(daemon.pid)
        limit = time.monotonic() + plan.duration + extra_timeout_s
        while not any(r["topic"] == "control.status" for r in tail.records):  # ready, origin known
            if daemon.poll() is not None or time.monotonic() > limit:
                raise BenchError("the daemon did not become ready:\n" + log_path.read_text(errors="replace")[-3000:])
            sampler.sample()
            tail.poll()
            time.sleep(0.1)
        player.play(pcm)
        last_event = time.monotonic()
        while True:
            sampler.sample()
            if any(r["topic"].startswith("stenod.v1.transcript") for r in tail.poll()):
                last_event = time.monotonic()
            now = time.monotonic()
            if player.done.is_set() and now - last_event > SETTLE_S:
                break
            if player.origin_ns is not None:
                pos = min(plan.duration, (time.monotonic_ns() - player.origin_ns) / 1e9)
                say(f"via-mic: played {pos:.0f} s / {plan.duration:.0f} s")
            if daemon.poll() is not None or now > limit:
                raise BenchError("the daemon stopped or stalled during the run:\n"
                                 + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        _stop(daemon, timeout=30)  # SIGTERM: pending finals are published first
        ended = time.monotonic_ns()
        try:
            listener.wait(10)
        except subprocess.TimeoutExpired:
            pass
        tail.poll()
    finally:
        for proc in (daemon, listener):
            if proc is not None:
                _stop(proc)
        if player is not None:
            player.close()
        os.environ.pop("PULSE_SINK", None)
        mic.remove()
    log = log_path.read_text(errors="replace")
    if daemon.returncode != 0:
        raise BenchError(f"the daemon exited with status {daemon.returncode}:\n" + log[-3000:])
    arrivals, statuses, control, lost = _decode(tail.records)
    daemon_origin = next((a.timings["stream_origin_mono_ns"] for a in reversed(arrivals)
                          if isinstance(a.timings.get("stream_origin_mono_ns"), int)),
                         (control or {}).get("stream_origin_mono_ns"))
    played0 = player.played_ns(0)
    shift = (played0 - daemon_origin) / 1e9 if isinstance(daemon_origin, int) else 0.0
    arrivals = [replace(a, start_s=a.start_s - shift, end_s=a.end_s - shift) for a in arrivals]
    ready = next((d for s, _, d in statuses if s in ("ready", "paused")), {})
    run = StreamRun(plan, 1.0, started, arrivals, statuses, control, sampler, daemon.returncode, log, lost,
                    model=ready.get("model") or (control or {}).get("model"),
                    device=ready.get("device") or (control or {}).get("device"), ended_ns=ended,
                    playback_origin_ns=played0)
    return run, lambda t: player.played_ns(min(len(pcm) - 1, max(0, int(t * SAMPLE_RATE))))


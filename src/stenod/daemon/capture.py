"""Audio capture: microphone, file or stdin into the ring buffer, on the stream's timeline.

Every source writes 16 kHz mono int16 into the ring and records `origin_ns`, the monotonic time of
sample 0 on the stream timeline (for a file played at speed X, sample p is due at
origin + p / 16000 / X seconds), so latency can be measured against the speech's real end. A
microphone's origin comes from the audio's own timing (`MicClock`), not from when the stream was
started: the first block may arrive a second later.
The microphone callback only copies into the ring; everything else happens in other threads.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from stenod import SAMPLE_RATE
from stenod.daemon.ring import Ring

log = logging.getLogger("stenod.capture")


class SourceError(RuntimeError):
    """The audio source cannot be opened or used; the message is meant for the user."""


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "mic" | "monitor" | "file" | "stdin"
    target: str | None = None  # device name/index for mic, sink name for monitor, path for file

    def __str__(self) -> str:
        if self.kind in ("mic", "monitor"):
            return f"{self.kind}:{self.target}" if self.target else self.kind
        return "-" if self.kind == "stdin" else f"file:{self.target}"


def parse_source(text: str) -> SourceSpec:
    """`mic`, `mic:NAME|INDEX`, `monitor`, `monitor:SINK`, `file:PATH` (or a bare path that exists),
    `-` for stdin."""
    if text == "-":
        return SourceSpec("stdin")
    if text in ("mic", "monitor"):
        return SourceSpec(text)
    for kind in ("mic", "monitor"):
        if text.startswith(f"{kind}:") and text[len(kind) + 1:]:
            return SourceSpec(kind, text[len(kind) + 1:])
    if text.startswith("file:") and text[5:]:
        return SourceSpec("file", text[5:])
    from pathlib import Path

    if Path(text).is_file():
        return SourceSpec("file", text)
    raise SourceError(f"unknown source {text!r}: use mic, mic:NAME, monitor, monitor:SINK, file:PATH "
                      "or - (raw s16le 16 kHz on stdin)")


class Source:
    """Base: a thread (or callback) that fills the ring. `finished` is set at end of input."""

    def __init__(self, ring: Ring, block: int):
        self.ring, self.block = ring, block
        self.origin_ns = time.monotonic_ns()
        self.finished = threading.Event()
        self.error: str | None = None
        self.interrupted = threading.Event()
        """Set while the source has lost its input and waits for it to come back (the segmenter
        then finalises the utterance in progress with the audio it has)."""
        self.gaps: list[AudioGap] = []
        """Outages recovered from, oldest first."""
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run_guarded, name=f"capture-{type(self).__name__}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _run_guarded(self) -> None:
        try:
            self._run()
        except (OSError, ValueError, SourceError) as exc:
            self.error = str(exc)
            log.error("audio source failed: %s", exc)
        finally:
            self.finished.set()

    def _run(self) -> None:
        raise NotImplementedError

    def _wait_for_room(self, n: int) -> bool:
        """Back-pressure for sources that must not lose audio (files, stdin)."""
        while self.ring.available + n > self.ring.capacity:
            if self._halt.wait(0.01):
                return False
        return True


class FileSource(Source):
    """Replays a file on the stream timeline at `speed` (inf: as fast as the pipeline takes it)."""

    def __init__(self, ring: Ring, block: int, path: str, speed: float):
        super().__init__(ring, block)
        from stenod.audio import AudioError, load_audio

        try:
            audio = load_audio(path)
        except AudioError as exc:
            raise SourceError(str(exc)) from None
        self.pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        self.speed = speed

    def _run(self) -> None:
        self.origin_ns = time.monotonic_ns()
        paced = np.isfinite(self.speed)
        for pos in range(0, len(self.pcm), self.block):
            chunk = self.pcm[pos : pos + self.block]
            if paced:
                due = self.origin_ns + int((pos + len(chunk)) / SAMPLE_RATE / self.speed * 1e9)
                delay = (due - time.monotonic_ns()) / 1e9
                if delay > 0 and self._halt.wait(delay):
                    return
            elif not self._wait_for_room(len(chunk)):
                return
            if self._halt.is_set():
                return
            self.ring.write(chunk)


class StdinSource(Source):
    """Raw s16le 16 kHz mono on stdin; the writer sets the pace, the ring gives back-pressure."""

    def __init__(self, ring: Ring, block: int, stream=None):
        super().__init__(ring, block)
        self.stream = stream or sys.stdin.buffer

    def _run(self) -> None:
        self.origin_ns = time.monotonic_ns()
        leftover = b""
        fd = self.stream.fileno()
        while not self._halt.is_set():
            # select + os.read, not a blocking buffered read: a stop is seen within 0.1 s, and no
            # thread is left holding the stdin buffer's lock at interpreter exit (a fatal error)
            if not select.select([fd], [], [], 0.1)[0]:
                continue
            data = os.read(fd, self.block * 2)
            if not data:
                break
            data = leftover + data
            usable = len(data) - len(data) % 2
            leftover = data[usable:]
            chunk = np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)
            if not self._wait_for_room(len(chunk)):
                return
            self.ring.write(chunk)


@dataclass(frozen=True)
class AudioGap:
    """The input device was lost at stream position `sample`: no audio from `start_mono_ns` (the
    time of the last sample before the loss) to `end_mono_ns` (the first sample after the reopen;
    None while it is still lost)."""

    sample: int
    start_mono_ns: int
    end_mono_ns: int | None = None
    reason: str = ""

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_mono_ns is None else round((self.end_mono_ns - self.start_mono_ns) / 1e6)

    def detail(self) -> dict:
        """The gap as published in a status event's `detail.audio_gap` (see docs/protocol.md)."""
        return {"start_ms": round(self.sample / SAMPLE_RATE * 1000), "start_mono_ns": self.start_mono_ns,
                "end_mono_ns": self.end_mono_ns, "duration_ms": self.duration_ms, "reason": self.reason}


class MicClock:
    """Where sample 0 of a microphone stream lies on the monotonic clock, from the audio itself.

    Each callback gives an upper bound on the origin: its block's first sample was captured
    `currentTime - inputBufferAdcTime` ago by PortAudio's clock (or, where the backend reports no
    sane ADC time, as PulseAudio's often do, at least the block's own duration ago), and the
    `before` samples of the stream came earlier. The smallest bound seen wins, so a late callback
    (scheduling jitter, the sound server's start-up) never inflates latencies. `reanchor()` after
    a reopen: the sample counter keeps running across the gap, so the old origin no longer holds.
    Called from the audio thread: integer arithmetic only.
    """

    MAX_ADC_AGE_S = 1.0  # an ADC time further back than this is not believed

    def __init__(self, fallback_ns: int):
        self.origin_ns = fallback_ns
        self.anchored = False

    def reanchor(self) -> None:
        self.anchored = False

    def block(self, now_ns: int, before: int, frames: int, adc_s: float, current_s: float) -> None:
        age = current_s - adc_s
        if not (adc_s > 0 and 0 <= age <= self.MAX_ADC_AGE_S):
            age = frames / SAMPLE_RATE
        bound = now_ns - int(age * 1e9) - before * 1_000_000_000 // SAMPLE_RATE
        if not self.anchored or bound < self.origin_ns:
            self.origin_ns, self.anchored = bound, True

    def mono_ns(self, sample: int) -> int:
        return self.origin_ns + sample * 1_000_000_000 // SAMPLE_RATE


class MicSource(Source):
    """A PortAudio input stream (no back-pressure: the ring drops the oldest audio); when the
    device or the sound server goes away, reopens it with backoff and reports the gap."""

    RETRY_S = (0.1, 0.2, 0.4, 0.8, 1.0)  # backoff between reopen attempts (the last one repeats)
    STALL_S = 2.0  # an open stream that delivers nothing for this long is treated as lost

    def __init__(self, ring: Ring, block: int, device: str | None,
                 on_gap: Callable[[AudioGap], None] | None = None):
        super().__init__(ring, block)
        self.device_name = device
        self.device = resolve_device(device)
        self.clock = MicClock(self.origin_ns)
        self.on_gap = on_gap or (lambda gap: None)
        self.reopened = 0
        self._last_block_ns = 0
        self._stream = None
        self._open()  # fail now, with a clear error, if the device is unusable

    def _open(self) -> None:
        import sounddevice as sd

        ring, clock = self.ring, self.clock

        def callback(indata, frames, time_info, status):  # audio thread: copy and stamp only
            now = time.monotonic_ns()
            ring.write(indata)
            clock.block(now, ring.written - frames, frames, time_info.inputBufferAdcTime, time_info.currentTime)
            self.origin_ns, self._last_block_ns = clock.origin_ns, now

        try:
            stream = sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=self.block,
                                    device=self.device, callback=callback)
            self._last_block_ns = time.monotonic_ns()
            stream.start()
        except sd.PortAudioError as exc:
            raise SourceError(f"cannot open input device {self.device_label()}: {exc}") from None
        self._stream = stream

    def device_label(self) -> str:
        return "default" if self.device_name is None else str(self.device_name)

    def _lost(self) -> str | None:
        """Why the open stream is no longer usable, or None while it delivers audio."""
        stream = self._stream
        if stream is None or not stream.active:
            return "stream stopped"
        if time.monotonic_ns() - self._last_block_ns > self.STALL_S * 1e9:
            return f"no audio for {self.STALL_S:g} s"
        return None

    def _run(self) -> None:
        while not self._halt.wait(0.1):
            reason = self._lost()
            if reason is None:
                continue
            sample = self.ring.written
            gap = AudioGap(sample, self.clock.mono_ns(sample), reason=reason)
            log.warning("input device %s lost (%s); trying to reopen it", self.device_label(), reason)
            self.interrupted.set()
            self.on_gap(gap)
            if not self._reopen():
                return
            while not self.clock.anchored:  # the first block after the reopen fixes the new origin
                if self._halt.wait(0.01):
                    return
            self.interrupted.clear()
            gap = replace(gap, end_mono_ns=self.clock.mono_ns(sample))
            self.gaps.append(gap)
            log.info("input device %s reopened after %.1f s without audio", self.device_label(),
                     gap.duration_ms / 1000)
            self.on_gap(gap)

    def _reopen(self) -> bool:
        """Close the lost stream and open the device again, with backoff; False if halted first."""
        self._close()
        for attempt in itertools.count():
            if self._halt.is_set():
                return False
            try:
                _reinit_portaudio()
                self.device = resolve_device(self.device_name)  # indices change when devices come back
                self.clock.reanchor()
                self._open()
                self.reopened += 1
                return True
            except SourceError as exc:
                log.debug("%s", exc)
                self._halt.wait(self.RETRY_S[min(attempt, len(self.RETRY_S) - 1)])
        return False

    def _close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.close(ignore_errors=True)
            except Exception as exc:  # noqa: BLE001 - a vanished device may fail in many ways
                log.debug("closing input stream: %s", exc)
            self._stream = None

    def stop(self) -> None:
        super().stop()
        self._close()


def _reinit_portaudio() -> None:
    """PortAudio enumerates devices once at init: re-initialize so a replugged device is seen."""
    import sounddevice as sd

    sd._terminate()
    sd._initialize()


def list_devices() -> list[dict]:
    """Input-capable devices as dicts: index, name, channels, default_samplerate, default."""
    import sounddevice as sd

    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise SourceError(f"cannot list audio devices: {exc}") from None
    return [{"index": i, "name": d["name"], "channels": d["max_input_channels"],
             "default_samplerate": d["default_samplerate"], "default": i == default_in}
            for i, d in enumerate(devices) if d["max_input_channels"] > 0]


def resolve_device(name: str | None) -> int | None:
    """A device index from an index or (a unique part of) a name; None = system default."""
    devices = list_devices()
    if not devices:
        raise SourceError("no audio input device found (is a sound server running? see `stenod devices`)")
    if name is None:
        return None
    if name.isdigit():
        idx = int(name)
        if any(d["index"] == idx for d in devices):
            return idx
        raise SourceError(f"no input device with index {idx}; see `stenod devices`")
    exact = [d for d in devices if d["name"] == name]
    matches = exact or [d for d in devices if name.lower() in d["name"].lower()]
    if len(matches) == 1:
        return matches[0]["index"]
    if not matches:
        raise SourceError(f"no input device named {name!r}; see `stenod devices`")
    raise SourceError(f"input device name {name!r} is ambiguous: " + ", ".join(d["name"] for d in matches))


def pulse_monitor(sink: str | None) -> str:
    """The PulseAudio/PipeWire source that records what `sink` (None: the default output) plays."""
    def pactl(*args: str) -> str:
        try:
            out = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10)
        except FileNotFoundError:
            raise SourceError("the monitor source needs a PulseAudio or PipeWire server and its pactl tool "
                              "(Debian: pulseaudio-utils)") from None
        if out.returncode != 0:
            raise SourceError(f"the monitor source needs a PulseAudio or PipeWire server; none answers: "
                              f"{out.stderr.strip() or out.stdout.strip()}")
        return out.stdout

    sinks = [line.split("\t")[1] for line in pactl("list", "short", "sinks").splitlines() if "\t" in line]
    if sink is None:
        found = re.search(r"^Default Sink: (.+)$", pactl("info"), re.MULTILINE)
        if found is None or found.group(1) not in sinks:
            raise SourceError("the sound server has no default output to record; name one: "
                              f"monitor:SINK ({', '.join(sinks) or 'no outputs'})")
        sink = found.group(1)
    elif sink not in sinks:
        raise SourceError(f"no output named {sink!r}; outputs: {', '.join(sinks) or 'none'}")
    return f"{sink}.monitor"


def open_source(spec: SourceSpec, ring: Ring, block: int, speed: float,
                on_gap: Callable[[AudioGap], None] | None = None) -> Source:
    """The source `spec` names; `on_gap` hears of a microphone's outages (start, then end)."""
    if spec.kind == "file":
        return FileSource(ring, block, spec.target or "", speed)
    if spec.kind == "stdin":
        return StdinSource(ring, block)
    if spec.kind == "monitor":
        # the sound server's pulse plugin (PortAudio's default device) records the source named here
        os.environ["PULSE_SOURCE"] = pulse_monitor(spec.target)
    return MicSource(ring, block, spec.target, on_gap)

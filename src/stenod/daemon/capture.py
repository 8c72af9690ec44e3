"""Audio capture: microphone, file or stdin into the ring buffer, on the stream's timeline.

Every source writes 16 kHz mono int16 into the ring and records `origin_ns`, the monotonic time of
sample 0 on the stream timeline (for a file played at speed X, sample p is due at
origin + p / 16000 / X seconds), so latency can be measured against the speech's real end. A
microphone's origin comes from the audio's own timing (`MicClock`), not from when the stream was
started: the first block may arrive a second later. Microphones and system audio are in
`stenod.daemon.mic`.
The microphone callback only copies into the ring; everything else happens in other threads.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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


def open_source(spec: SourceSpec, ring: Ring, block: int, speed: float,
                on_gap: Callable[[AudioGap], None] | None = None) -> Source:
    """The source `spec` names; `on_gap` hears of a microphone's outages (start, then end)."""
    if spec.kind == "file":
        return FileSource(ring, block, spec.target or "", speed)
    if spec.kind == "stdin":
        return StdinSource(ring, block)
    from stenod.daemon.mic import MicSource, pulse_monitor

    if spec.kind == "monitor":
        # the sound server's pulse plugin (PortAudio's default device) records the source named here
        return MicSource(ring, block, None, on_gap, pulse_source=pulse_monitor(spec.target))
    return MicSource(ring, block, spec.target, on_gap)

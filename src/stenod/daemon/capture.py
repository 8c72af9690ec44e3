"""Audio capture: microphone, file or stdin into the ring buffer, on the stream's timeline.

Every source writes 16 kHz mono int16 into the ring and records `origin_ns`, the monotonic time of
sample 0 on the stream timeline (for a file played at speed X, sample p is due at
origin + p / 16000 / X seconds), so latency can be measured against the speech's real end.
The microphone callback only copies into the ring; everything else happens in other threads.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from stenod import SAMPLE_RATE
from stenod.daemon.ring import Ring

log = logging.getLogger("stenod.capture")


class SourceError(RuntimeError):
    """The audio source cannot be opened or used; the message is meant for the user."""


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "mic" | "file" | "stdin"
    target: str | None = None  # device name/index for mic, path for file

    def __str__(self) -> str:
        return {"mic": f"mic:{self.target}" if self.target else "mic", "stdin": "-"}.get(
            self.kind, f"file:{self.target}")


def parse_source(text: str) -> SourceSpec:
    """`mic`, `mic:NAME|INDEX`, `file:PATH` (or a bare path that exists), `-` for stdin."""
    if text == "-":
        return SourceSpec("stdin")
    if text == "mic":
        return SourceSpec("mic")
    if text.startswith("mic:") and text[4:]:
        return SourceSpec("mic", text[4:])
    if text.startswith("file:") and text[5:]:
        return SourceSpec("file", text[5:])
    from pathlib import Path

    if Path(text).is_file():
        return SourceSpec("file", text)
    raise SourceError(f"unknown source {text!r}: use mic, mic:NAME, file:PATH or - (raw s16le 16 kHz on stdin)")


class Source:
    """Base: a thread (or callback) that fills the ring. `finished` is set at end of input."""

    def __init__(self, ring: Ring, block: int):
        self.ring, self.block = ring, block
        self.origin_ns = time.monotonic_ns()
        self.finished = threading.Event()
        self.error: str | None = None
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


class MicSource(Source):
    """A PortAudio input stream (no back-pressure: the ring drops the oldest audio); reopens the
    device when it disappears."""

    RETRY_S = 2.0

    def __init__(self, ring: Ring, block: int, device: str | None):
        super().__init__(ring, block)
        self.device = resolve_device(device)
        self.reopened = 0
        self._stream = None
        self._open()  # fail now, with a clear error, if the device is unusable

    def _open(self) -> None:
        import sounddevice as sd

        def callback(indata, frames, time_info, status):  # audio thread: copy only
            self.ring.write(indata)

        try:
            stream = sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=self.block,
                                    device=self.device, callback=callback)
            stream.start()
        except sd.PortAudioError as exc:
            raise SourceError(f"cannot open input device {self.device_label()}: {exc}") from None
        self.origin_ns = time.monotonic_ns() - int(self.ring.written / SAMPLE_RATE * 1e9)
        self._stream = stream

    def device_label(self) -> str:
        return "default" if self.device is None else str(self.device)

    def _run(self) -> None:
        while not self._halt.wait(0.5):
            stream = self._stream
            if stream is not None and stream.active:
                continue
            log.warning("input device %s stopped; trying to reopen it", self.device_label())
            self._close()
            while not self._halt.is_set():
                try:
                    _reinit_portaudio()
                    self._open()
                    self.reopened += 1
                    log.info("input device %s reopened", self.device_label())
                    break
                except SourceError as exc:
                    log.debug("%s", exc)
                    self._halt.wait(self.RETRY_S)

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


def open_source(spec: SourceSpec, ring: Ring, block: int, speed: float) -> Source:
    if spec.kind == "file":
        return FileSource(ring, block, spec.target or "", speed)
    if spec.kind == "stdin":
        return StdinSource(ring, block)
    return MicSource(ring, block, spec.target)

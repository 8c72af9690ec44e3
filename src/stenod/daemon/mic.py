"""Live input through PortAudio: a microphone, or the sound server's monitor of an output (system
audio), with its timeline anchored on the audio itself and recovery when the device or the sound
server goes away and comes back."""

from __future__ import annotations

import itertools
import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from stenod import SAMPLE_RATE
from stenod.daemon.capture import AudioGap, Source, SourceError
from stenod.daemon.ring import Ring

log = logging.getLogger("stenod.capture")


class MicClock:
    """Where sample 0 of a microphone stream lies on the monotonic clock, from the audio itself.

    Each callback gives an upper bound on the origin: its block's last sample was captured by the
    time the callback ran, so its first one at least the block's duration before, and the `before`
    samples of the stream came earlier still. The smallest bound of the last one or two windows of
    `WINDOW_S` wins: a late callback (scheduling jitter, the sound server's start-up) never inflates
    latencies, while samples the driver dropped (an overflow while the machine was busy: the counter
    then lags the clock) are caught up with within two windows, at once when PortAudio flags the
    overflow. `reanchor()` after a reopen: the sample counter keeps running across the gap, so the
    old origin no longer holds. Called from the audio thread: integer arithmetic only.

    PortAudio's `inputBufferAdcTime` is not used: through PulseAudio's ALSA plugin it claimed 0.6 s
    of capture latency for the first second of a stream (an origin 0.5 s early, so every latency
    0.5 s too long) and less than a block's duration while another stream started. Any latency
    inside the driver beyond the block (a few ms to tens of ms) is not counted.
    """

    WINDOW_S = 5.0

    def __init__(self, fallback_ns: int):
        self.origin_ns = fallback_ns
        self.anchored = False
        self._prev: int | None = None  # smallest bound of the previous window
        self._cur = self._cur_start = 0  # ... of the current one, and when it began

    def reanchor(self) -> None:
        self.anchored = False

    def block(self, now_ns: int, before: int, frames: int, overflow: bool = False) -> None:
        bound = now_ns - (before + frames) * 1_000_000_000 // SAMPLE_RATE
        if overflow or not self.anchored:
            self._prev, self._cur, self._cur_start = None, bound, now_ns
        elif now_ns - self._cur_start > self.WINDOW_S * 1e9:
            self._prev, self._cur, self._cur_start = self._cur, bound, now_ns
        elif bound < self._cur:
            self._cur = bound
        self.origin_ns = self._cur if self._prev is None else min(self._prev, self._cur)
        self.anchored = True

    def mono_ns(self, sample: int) -> int:
        return self.origin_ns + sample * 1_000_000_000 // SAMPLE_RATE


class MicSource(Source):
    """A PortAudio input stream (no back-pressure: the ring drops the oldest audio); when the
    device or the sound server goes away, reopens it with backoff and reports the gap."""

    RETRY_S = (0.1, 0.2, 0.4, 0.8, 1.0)  # backoff between reopen attempts (the last one repeats)
    STALL_S = 2.0  # an open stream that delivers nothing for this long is treated as lost
    FIRST_BLOCK_S = 10.0  # ... but its first block may take seconds (a sound server waking a sink up)

    def __init__(self, ring: Ring, block: int, device: str | None,
                 on_gap: Callable[[AudioGap], None] | None = None, pulse_source: str | None = None):
        """`pulse_source`: record this PulseAudio/PipeWire source through the sound server's pulse
        plugin (the default device), whatever the process's other streams record."""
        super().__init__(ring, block)
        self.device_name = device
        self.pulse_source = pulse_source
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
            clock.block(now, ring.written - frames, frames, status.input_overflow)
            self.origin_ns, self._last_block_ns = clock.origin_ns, now

        try:
            with _pulse_source(self.pulse_source):
                stream = sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=self.block,
                                        device=self.device, callback=callback)
            self._last_block_ns = time.monotonic_ns()
            stream.start()
        except sd.PortAudioError as exc:
            raise SourceError(f"cannot open input device {self.device_label()}: {exc}") from None
        self._stream = stream

    def device_label(self) -> str:
        if self.pulse_source is not None:
            return self.pulse_source
        return "default" if self.device_name is None else str(self.device_name)

    def _lost(self) -> str | None:
        """Why the open stream is no longer usable, or None while it delivers audio."""
        stream = self._stream
        if stream is None or not stream.active:
            return "stream stopped"
        limit = self.STALL_S if self.clock.anchored else self.FIRST_BLOCK_S
        if time.monotonic_ns() - self._last_block_ns > limit * 1e9:
            return f"no audio for {limit:g} s"
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


_PULSE_ENV = threading.Lock()


@contextmanager
def _pulse_source(name: str | None) -> Iterator[None]:
    """PULSE_SOURCE is read by the pulse plugin when a stream is opened (each open makes its own
    sound-server client), not later: setting it around the open, under a lock, gives every stream
    its own source although the variable is process-wide."""
    if name is None:
        yield
        return
    with _PULSE_ENV:
        before = os.environ.get("PULSE_SOURCE")
        os.environ["PULSE_SOURCE"] = name
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("PULSE_SOURCE", None)
            else:
                os.environ["PULSE_SOURCE"] = before


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

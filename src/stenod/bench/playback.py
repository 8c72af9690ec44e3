"""Playing audio into a sound server's sink on a known clock: the reference a microphone's
latency is measured from.

`Player` opens a PortAudio output stream (through PulseAudio/PipeWire's ALSA plugin, on the sink
``PULSE_SINK`` names) and plays silence until :meth:`Player.play` queues audio, so the sink already
renders in small blocks when it starts. :meth:`Player.played_ns` says when a sample of the queued
audio reached the sink, by PortAudio's DAC time of the block that held it (mapped onto the
monotonic clock by the smallest offset seen between the two clocks: a late callback does not
count), not when playing was asked for; an underrun of the player under load is thus measured,
not hidden.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from stenod import SAMPLE_RATE


class PlaybackError(RuntimeError):
    """No output stream could be opened; the message is meant for the user."""


class Player:
    MAX_DAC_AHEAD_S = 1.0  # a DAC time further ahead than this is not believed
    LATENCY_S = 0.2  # output buffer: enough that a loaded machine does not starve it (DAC times say
    # when each block really plays, so a deeper buffer costs no accuracy)

    def __init__(self, block: int = 320):
        import sounddevice as sd

        self._pcm: np.ndarray | None = None
        self._pos = 0
        self._lock = threading.Lock()
        self._blocks: list[tuple[int, int | None, float]] = []  # (first sample, arrival or None, DAC time)
        self._offset_ns: int | None = None  # monotonic minus PortAudio's stream clock
        self.done = threading.Event()
        try:
            self._stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=block,
                                           latency=self.LATENCY_S, callback=self._callback)
            self._stream.start()
        except sd.PortAudioError as exc:
            raise PlaybackError(f"cannot open an output stream (is a sound server running?): {exc}") from None

    def _callback(self, outdata, frames, time_info, status) -> None:
        now = time.monotonic_ns()
        outdata.fill(0)
        with self._lock:
            # PortAudio's clock against ours: the smallest difference is the one no callback delay grew
            offset = now - int(time_info.currentTime * 1e9)
            if self._offset_ns is None or offset < self._offset_ns:
                self._offset_ns = offset
            pcm = self._pcm
            if pcm is None or self.done.is_set():
                return
            start = self._pos
            chunk = pcm[start:start + frames]
            outdata[:len(chunk), 0] = chunk
            self._pos = start + len(chunk)
            ahead = time_info.outputBufferDacTime - time_info.currentTime
            if not 0 <= ahead <= self.MAX_DAC_AHEAD_S:  # no sane DAC time: as soon as it is handed over
                self._blocks.append((start, now, 0.0))
            else:
                self._blocks.append((start, None, time_info.outputBufferDacTime))
            if self._pos >= len(pcm):
                self.done.set()

    def played_ns(self, sample: int) -> int:
        """When sample `sample` of the queued audio reached the sink, on the monotonic clock (by the
        block that held it, so an underrun before it is accounted for)."""
        with self._lock:
            blocks = [b for b in self._blocks if b[0] <= sample]
            if not blocks:
                raise ValueError("that sample was not played")
            start, now, dac = blocks[-1]
            at = now if now is not None else self._offset_ns + int(dac * 1e9)
            return at + (sample - start) * 1_000_000_000 // SAMPLE_RATE

    @property
    def origin_ns(self) -> int | None:
        """When sample 0 reached the sink (None before it was played)."""
        return self.played_ns(0) if self._blocks else None

    def play(self, pcm: np.ndarray) -> None:
        """Queue 16 kHz mono int16 `pcm` to start at the next block; `done` is set once all is out."""
        with self._lock:
            self._pcm, self._pos, self._blocks = np.asarray(pcm, dtype=np.int16).reshape(-1), 0, []
            self.done.clear()

    def close(self) -> None:
        self._stream.close(ignore_errors=True)

    def __enter__(self) -> "Player":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

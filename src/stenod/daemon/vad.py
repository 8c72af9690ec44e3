"""Frame classifiers for the segmenter: is this VAD frame the speaker's speech?

One frame at a time, in stream order, three cheap tests and an optional neural one, all of which
must agree:

1. **webrtcvad** (every frame, microseconds): speech-like energy and spectrum.
2. **spectral gate**: frames flatter than ``speech_gate`` are hiss or clicks, whatever webrtcvad
   says (it takes white noise for speech; voiced speech is far from flat).
3. **room gate** (:class:`NoiseFloor`): the frame's level must lie ``snr_db`` above the room's
   floor, tracked as the minimum of the 180 ms level over the last ``floor_window_s``. A fan, a
   resumed sound server or a TV in the next room raises the floor, and with it the bar, within
   that window, so a steady background (or a babble of distant talkers) between two utterances
   is not taken for speech. Digital silence gives the lowest floor, so nothing depends on the
   stream starting in true silence: the floor rises to whatever comes next. With silero-vad
   handling stationary noise, the gate's margin is small (5 dB: the sum of several talkers at
   -30 dBFS under a speaker at -21 dBFS still splits; 7 dB and more split real utterances under
   a loud hum).
4. **neural stage** (:class:`SileroStage`, the daemon's default): silero-vad, a small recurrent
   network trained on real rooms, confirms webrtcvad's decisions; it tells hum, pink and brown
   noise from speech where the energy tests cannot. It only runs while webrtcvad has heard
   something in the last second (idle silence costs nothing), catching up on the last 256 ms
   when it wakes.

:class:`FrameVad` is what :class:`~stenod.daemon.segment.Segmenter` calls; it holds no I/O. The
neural stage loads its bundled model when built (torch is imported there, never by clients).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from typing import Protocol

import numpy as np

WEBRTC_RATES = (8000, 16000, 32000, 48000)
_FULL = 32768.0**2


def spectral_flatness(frame: np.ndarray, sample_rate: int) -> float:
    """Geometric over arithmetic mean of the power spectrum between 125 Hz and 6.25 kHz: about
    0.56 for white noise, below 0.3 for nearly all speech frames (1.2 % above 0.4 on the corpus)."""
    n = frame.shape[0]
    power = np.abs(np.fft.rfft(frame.astype(np.float64) * np.hanning(n))) ** 2 + 1e-10
    band = power[max(1, int(125 * n / sample_rate)) : max(2, int(6250 * n / sample_rate))]
    return float(np.exp(np.mean(np.log(band))) / np.mean(band))


class NoiseFloor:
    """The room's level: sliding minimum, over ``window`` frames, of the mean power of the last
    ``smooth`` frames, in dBFS. Digital silence counts as -100 dBFS."""

    def __init__(self, window: int, smooth: int) -> None:
        self._powers: deque[float] = deque(maxlen=smooth)
        self._mins: deque[tuple[int, float]] = deque()  # (frame number, level), levels increasing
        self._window = window
        self._n = 0
        self.level_db = -100.0  # of the last frame (smoothed)
        self.floor_db = -100.0

    def update(self, frame: np.ndarray) -> None:
        """Take one frame (int16); updates :attr:`level_db` and :attr:`floor_db`."""
        x = frame.astype(np.float64)
        self._powers.append(float(np.dot(x, x)) / max(1, x.shape[0]))
        mean = sum(self._powers) / len(self._powers)
        self.level_db = 10 * math.log10(mean / _FULL + 1e-10)
        while self._mins and self._mins[-1][1] >= self.level_db:
            self._mins.pop()
        self._mins.append((self._n, self.level_db))
        while self._mins[0][0] <= self._n - self._window:
            self._mins.popleft()
        self.floor_db = self._mins[0][1]
        self._n += 1


class NeuralStage(Protocol):
    """A second-opinion classifier fed every frame in order; :attr:`probability` is its speech
    probability for the audio up to the last frame fed."""

    probability: float

    def feed(self, frame: np.ndarray, wake: bool) -> None:
        """Take the next frame; ``wake`` says the first stage heard something recently."""


class ChunkedStage(ABC):
    """What both silero-vad runtimes share: 512-sample chunks at 16 kHz, run only while awake; on
    waking, the model's state is reset and the last `CATCH_UP` chunks are replayed for context.
    A runtime implements `_reset()` and `_score(chunk) -> speech probability`."""

    CHUNK = 512
    CATCH_UP = 8  # chunks replayed on waking (256 ms of context)

    def __init__(self, sample_rate: int = 16000) -> None:
        if sample_rate != 16000:
            raise ValueError(f"the neural VAD stage runs at 16000 Hz, got {sample_rate}")
        self._buf = np.zeros(0, np.float32)
        self._recent: deque[np.ndarray] = deque(maxlen=self.CATCH_UP)
        self._awake = False
        self.probability = 0.0
        self.chunks_run = 0

    @abstractmethod
    def _reset(self) -> None:
        """Forget the model's state (on waking)."""

    @abstractmethod
    def _score(self, chunk: np.ndarray) -> float:
        """The speech probability of the audio up to the end of `chunk`."""

    def _run(self, chunk: np.ndarray) -> None:
        self.probability = self._score(chunk)
        self.chunks_run += 1

    def feed(self, frame: np.ndarray, wake: bool) -> None:
        if wake and not self._awake:
            self._reset()
            for chunk in self._recent:
                self._run(chunk)
        self._awake = wake
        if not wake:
            self.probability = 0.0
        self._buf = np.concatenate((self._buf, frame.astype(np.float32) / 32768.0))
        while self._buf.shape[0] >= self.CHUNK:
            chunk, self._buf = self._buf[: self.CHUNK], self._buf[self.CHUNK :]
            self._recent.append(chunk)
            if self._awake:
                self._run(chunk)


class SileroStage(ChunkedStage):
    """silero-vad (v5+) run on torch."""

    def __init__(self, sample_rate: int = 16000) -> None:
        super().__init__(sample_rate)
        import torch  # heavy: only the daemon builds this stage

        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad  # its import sets torch's threads to 1 for the process...

        torch.set_num_threads(threads)  # ...which would halve the encoder's speed: put them back
        self._torch = torch
        self._model = load_silero_vad()
        self._rate = sample_rate

    def _reset(self) -> None:
        self._model.reset_states()

    def _score(self, chunk: np.ndarray) -> float:
        with self._torch.inference_mode():
            return float(self._model(self._torch.from_numpy(chunk), self._rate).item())


class FrameVad:
    """The segmenter's classifier: webrtcvad, then the spectral gate, the room gate and the
    neural stage (when given); see the module docstring. Call it with each frame's bytes."""

    def __init__(self, *, sample_rate: int, frame_ms: int, aggressiveness: int, speech_gate: float,
                 snr_db: float, floor_window_s: float, neural: NeuralStage | None = None,
                 neural_threshold: float = 0.5) -> None:
        if sample_rate not in WEBRTC_RATES:
            raise ValueError(f"webrtcvad needs a sample rate in {WEBRTC_RATES}, got {sample_rate}")
        import webrtcvad  # lazy: only the daemon needs it

        self._webrtc = webrtcvad.Vad(aggressiveness)
        self._rate = sample_rate
        self._gate = speech_gate
        self._snr = snr_db
        self.floor = NoiseFloor(max(1, round(floor_window_s * 1000 / frame_ms)), max(1, 180 // frame_ms))
        self._neural = neural
        self._threshold = neural_threshold
        self._wake_frames = max(1, 1000 // frame_ms)  # the neural stage sleeps after 1 s unheard
        self._since_heard = self._wake_frames

    def __call__(self, frame: bytes) -> bool:
        pcm = np.frombuffer(frame, np.int16)
        self.floor.update(pcm)
        heard = self._webrtc.is_speech(frame, self._rate)
        self._since_heard = 0 if heard else self._since_heard + 1
        if self._neural is not None:
            self._neural.feed(pcm, self._since_heard < self._wake_frames)
        if not heard:
            return False
        if self._snr > 0 and self.floor.level_db < self.floor.floor_db + self._snr:
            return False
        if self._gate < 1.0 and spectral_flatness(pcm, self._rate) >= self._gate:
            return False
        return self._neural is None or self._neural.probability >= self._threshold


__all__ = ["WEBRTC_RATES", "spectral_flatness", "NoiseFloor", "NeuralStage", "SileroStage", "FrameVad"]

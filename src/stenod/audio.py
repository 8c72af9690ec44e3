"""Audio file input: any WAV/FLAC/OGG, any rate and channel count -> 16 kHz mono float32."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from stenod import SAMPLE_RATE


class AudioError(ValueError):
    """The input is not usable audio; the message is meant for the user."""


def resample(x: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling of a mono signal by FFT (exact for the band both rates share)."""
    if rate == target or len(x) == 0:
        return x.astype(np.float32, copy=False)
    n_out = max(1, int(round(len(x) * target / rate)))
    spec = np.fft.rfft(x.astype(np.float64))
    bins = n_out // 2 + 1
    if bins <= len(spec):
        spec = spec[:bins]
    else:
        spec = np.concatenate([spec, np.zeros(bins - len(spec), dtype=spec.dtype)])
    return (np.fft.irfft(spec, n_out) * (n_out / len(x))).astype(np.float32)


def to_mono_16k(data: np.ndarray, rate: int) -> np.ndarray:
    if data.ndim == 2:
        data = data.mean(axis=1)
    return resample(np.asarray(data, dtype=np.float32), rate)


def load_audio(source: str | Path | bytes) -> np.ndarray:
    """Read a file path, or the bytes of a whole file, as 16 kHz mono float32 in [-1, 1]."""
    import soundfile as sf

    name = "<stdin>" if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes):
        path = Path(source)
        if not path.exists():
            raise AudioError(f"{name}: no such file")
        if path.is_dir():
            raise AudioError(f"{name}: is a directory, not an audio file")
    try:
        data, rate = sf.read(io.BytesIO(source) if isinstance(source, bytes) else str(source),
                             dtype="float32", always_2d=False)
    except sf.LibsndfileError as exc:
        raise AudioError(f"{name}: not a readable audio file ({_short(exc)}); use WAV, FLAC or OGG") from None
    except (RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{name}: not a readable audio file ({exc})") from None
    if data.size == 0:
        raise AudioError(f"{name}: contains no audio samples")
    return to_mono_16k(data, int(rate))


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return text.split(": ", 1)[-1] if "Error opening" in text else text


def split_windows(audio: np.ndarray, max_s: float = 28.0, search_s: float = 4.0) -> list[np.ndarray]:
    """Cut long audio into windows of at most `max_s`, each cut at the quietest 100 ms within the
    last `search_s` of the window, so words are rarely split. Whisper sees 30 s at a time."""
    out, start, n = [], 0, len(audio)
    limit, search, hop = int(max_s * SAMPLE_RATE), int(search_s * SAMPLE_RATE), SAMPLE_RATE // 10
    while n - start > limit:
        lo, hi = start + limit - search, start + limit
        frames = audio[lo:hi][: (hi - lo) // hop * hop].reshape(-1, hop)
        cut = lo + int(np.argmin(np.mean(frames ** 2, axis=1))) * hop + hop // 2
        out.append(audio[start:cut])
        start = cut
    out.append(audio[start:])
    return out

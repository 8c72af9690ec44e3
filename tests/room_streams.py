"""Synthetic "real room" streams for segmentation tests: corpus speech laid out with known pauses,
under noise floors of several colours and levels that switch on and off mid-stream, mains hum, and
a babble of other speech. Pure numpy; the speech comes from the corpus clips.

A :class:`RoomStream` knows where each utterance lies, so :func:`segment_status` can say of a
segmentation, utterance by utterance, whether it was found once (``ok``), shared one segment with
another (``merged``), cut in two (``split``) or not found (``missing``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SR = 16000


def colored_noise(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**alpha (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[1:] /= np.arange(1, spec.shape[0]) ** (alpha / 2)
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def hum(n: int, mains_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Mains hum with its odd harmonics (a transformer's buzz), unit RMS."""
    t = np.arange(n) / SR
    x = sum(np.sin(2 * np.pi * mains_hz * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3, 5, 7))
    return x / np.sqrt(np.mean(x**2))


def babble(n: int, voices: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Several speech recordings looped from random offsets and summed (a TV or a room of
    talkers in the distance), unit RMS."""
    x = np.zeros(n)
    for v in voices:
        looped = np.tile(v, n // len(v) + 2)
        off = int(rng.integers(0, len(v)))
        x += looped[off : off + n]
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def at_db(x: np.ndarray, dbfs: float) -> np.ndarray:
    """``x`` (unit RMS) scaled to an RMS of ``dbfs`` relative to full scale."""
    return x * 10 ** (dbfs / 20)


@dataclass(frozen=True)
class Layer:
    """A background sound on ``[start_s, end_s)`` of the stream (``end_s`` None: to the end)."""

    kind: str  # "white" | "pink" | "brown" | "hum50" | "hum60" | "babble"
    dbfs: float
    start_s: float = 0.0
    end_s: float | None = None


@dataclass
class RoomStream:
    pcm: np.ndarray  # int16
    utterances: list[tuple[int, int]] = field(default_factory=list)  # speech [start, end) in samples
    texts: list[str] = field(default_factory=list)


def speech_of(clip_pcm: np.ndarray, speech: tuple[float, float]) -> np.ndarray:
    """The speech part of a corpus clip (float, full scale 1.0)."""
    return clip_pcm[int(speech[0] * SR) : int(speech[1] * SR)].astype(np.float64) / 32768


def build(speech: list[np.ndarray], *, lead_s: float, gap_s: float, tail_s: float = 2.0,
          layers: tuple[Layer, ...] = (), babble_voices: list[np.ndarray] | None = None, seed: int = 0,
          texts: list[str] | None = None) -> RoomStream:
    """Speech clips (float) ``gap_s`` apart after ``lead_s``, mixed with ``layers``."""
    rng = np.random.default_rng(seed)
    n = int((lead_s + sum(len(s) / SR for s in speech) + gap_s * (len(speech) - 1) + tail_s) * SR)
    x = np.zeros(n)
    utts = []
    pos = int(lead_s * SR)
    for s in speech:
        x[pos : pos + len(s)] += s
        utts.append((pos, pos + len(s)))
        pos += len(s) + int(gap_s * SR)
    for layer in layers:
        a = int(layer.start_s * SR)
        b = n if layer.end_s is None else min(n, int(layer.end_s * SR))
        m = b - a
        if layer.kind in ("white", "pink", "brown"):
            bg = colored_noise(m, {"white": 0.0, "pink": 1.0, "brown": 2.0}[layer.kind], rng)
        elif layer.kind in ("hum50", "hum60"):
            bg = hum(m, float(layer.kind[3:]), rng)
        elif layer.kind == "babble":
            if not babble_voices:
                raise ValueError("a babble layer needs babble_voices")
            bg = babble(m, babble_voices, rng)
        else:
            raise ValueError(f"unknown layer kind {layer.kind!r}")
        x[a:b] += at_db(bg, layer.dbfs)
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    return RoomStream(pcm, utts, list(texts or []))


def segment_status(utterances: list[tuple[int, int]], segments: list[tuple[int, int]],
                   min_overlap: int = SR // 20) -> list[str]:
    """Per utterance: ``ok``, ``merged`` (its segment also covers another utterance), ``split``
    (two or more segments cover it) or ``missing``."""
    def covers(seg: tuple[int, int], utt: tuple[int, int]) -> bool:
        return min(seg[1], utt[1]) - max(seg[0], utt[0]) >= min_overlap

    out = []
    for u in utterances:
        segs = [s for s in segments if covers(s, u)]
        if not segs:
            out.append("missing")
        elif len(segs) > 1:
            out.append("split")
        elif sum(covers(segs[0], v) for v in utterances) > 1:
            out.append("merged")
        else:
            out.append("ok")
    return out

"""Offline accuracy and speed: every clip through the daemon's model and guards, one at a time.

The backend is loaded in this process exactly as the daemon loads it (same resolution, same
options from the same configuration, same warm-up), so the offline WER is the ceiling the
streaming pipeline should reach.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from stenod import SAMPLE_RATE
from stenod.bench.corpus import Clip
from stenod.bench.metrics import wer, word_errors


@dataclass
class ClipResult:
    id: str
    ref: str
    hyp: str
    audio_s: float
    seconds: float
    errors: int
    words: int


@dataclass
class OfflineResult:
    model: str
    device: str
    assistant_model: str | None
    load_s: float
    clips: list[ClipResult] = field(default_factory=list)

    @property
    def wer(self) -> float:
        return wer([c.ref for c in self.clips], [c.hyp for c in self.clips])

    @property
    def median_s(self) -> float:
        return statistics.median(c.seconds for c in self.clips) if self.clips else float("nan")

    @property
    def rtf(self) -> float:
        audio = sum(c.audio_s for c in self.clips)
        return sum(c.seconds for c in self.clips) / audio if audio else float("nan")

    def summary(self) -> dict[str, Any]:
        return {"wer": self.wer, "clips": len(self.clips), "median_s": self.median_s, "rtf": self.rtf,
                "load_s": self.load_s}


def transcribe_long(backend, audio) -> str:
    """Decode audio of any length: Whisper takes 30 s at a time, so longer clips are cut at pauses."""
    from stenod.audio import split_windows

    if len(audio) <= 30 * SAMPLE_RATE:
        return backend.transcribe(audio).text
    return " ".join(t for t in (backend.transcribe(w).text for w in split_windows(audio)) if t)


def run_offline(clips: tuple[Clip, ...], model: str | None, model_cfg,
                progress: Callable[[str], None] | None = None) -> OfflineResult:
    """Load the model (``None``: the daemon's default with its bundled fallback), then transcribe
    each clip and time it. Audio is read before the clock starts; each time covers feature
    extraction, encoder, guarded decoding and detokenization."""
    from stenod.asr.backend import BackendOptions, load_backend
    from stenod.audio import load_audio

    say = progress or (lambda _msg: None)
    say("offline: loading the model")
    t0 = time.perf_counter()
    backend = load_backend(model, BackendOptions.from_config(model_cfg))
    backend.warm_up()
    load_s = time.perf_counter() - t0
    result = OfflineResult(backend.name, str(backend.device), backend.status().assistant_model, load_s)
    try:
        for i, clip in enumerate(clips, 1):
            audio = load_audio(clip.path)
            start = time.perf_counter()
            hyp = transcribe_long(backend, audio)
            seconds = time.perf_counter() - start
            errors, words = word_errors(clip.text, hyp)
            result.clips.append(ClipResult(clip.id, clip.text, hyp, len(audio) / SAMPLE_RATE, seconds, errors, words))
            say(f"offline {i}/{len(clips)} clips, WER so far {result.wer:.1f} %")
    finally:  # free the model (and its GPU memory) before the daemon loads its own copy
        device = str(backend.device)
        del backend
        gc.collect()
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
    return result

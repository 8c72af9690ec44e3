"""Fixtures for several streams in one daemon: two-utterance recordings made of corpus clips, and
two more null sinks in the private PulseAudio (each sink's monitor is a source of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 16000


@dataclass(frozen=True)
class Recording:
    """A WAV of corpus clips with silence between them; ``texts`` in order."""

    path: Path
    texts: list[str]


def make_recording(corpus, clip_indices: list[int], path: Path, lead_s: float = 0.5, gap_s: float = 1.5) -> Recording:
    parts, texts = [np.zeros(int(lead_s * SR), np.float32)], []
    for i in clip_indices:
        clip = corpus.clips[i]
        audio, rate = sf.read(clip["path"], dtype="float32")
        assert rate == SR
        parts += [audio, np.zeros(int(gap_s * SR), np.float32)]
        texts.append(clip["text"])
    sf.write(path, np.concatenate(parts), SR, subtype="PCM_16")
    return Recording(path, texts)


@pytest.fixture(scope="module")
def two_sinks(pulse) -> Iterator[tuple[str, str]]:
    """Null sinks ``meet_me`` and ``meet_them`` in the session's PulseAudio (removed afterwards)."""
    names = ("meet_me", "meet_them")
    modules = [pulse.pactl("load-module", "module-null-sink", f"sink_name={name}", "rate=16000", "channels=1").strip()
               for name in names]
    try:
        yield names
    finally:
        for module in modules:
            pulse.pactl("unload-module", module)

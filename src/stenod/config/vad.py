"""The ``[vad]`` section: how the segmenter (:mod:`stenod.daemon.segment`) cuts utterances."""
from __future__ import annotations

import math
from dataclasses import dataclass


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bounds = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name}: must be {bounds}, got {value}")


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: must be a positive number of seconds, got {value}")
    return float(value)


@dataclass(frozen=True)
class VadConfig:
    """Segmentation settings. Durations in ms are rounded up to whole VAD frames."""

    aggressiveness: int = 2
    """webrtcvad aggressiveness, 0 (keeps most audio as speech) to 3 (strictest)."""
    frame_ms: int = 30
    """VAD frame length; webrtcvad accepts 10, 20 or 30 ms."""
    onset_ms: int = 90
    """Consecutive voiced audio needed to start an utterance (filters clicks)."""
    hangover_ms: int = 360
    """Silence that ends an utterance: the main end-of-speech latency. With text endpointing
    (the daemon's default) the decode's verdict decides instead: see ``text_endpoint``."""
    preroll_ms: int = 300
    """Audio kept before the onset so the first syllable is not lost."""
    early_ms: int = 60
    """Silence after which a tentative end is announced and the final's decode starts (0
    disables); must be < hangover_ms. A decode started there that speech interrupts is
    abandoned, so a short value costs only the CPU of those decodes."""
    resume_ms: int = 60
    """Voiced audio needed to resume an utterance during its hangover; shorter blips (a click,
    one misclassified frame of background noise) count as silence."""
    speech_gate: float = 0.4
    """Frames whose spectral flatness is above this are noise, not speech, whatever webrtcvad
    says (it takes white noise, hiss and clicks for speech; voiced speech is far from flat).
    1.0 turns the gate off. Only applies to the built-in webrtcvad classifier."""
    snr_db: float = 5.0
    """Frames whose 180 ms level is less than this above the room's floor (the quietest level
    of the last ``floor_window_s``) are not speech; 0 turns the room gate off."""
    floor_window_s: float = 5.0
    """How far back the room's floor is tracked: how fast the gate follows a louder room."""
    neural: bool = True
    """Confirm webrtcvad's speech frames with silero-vad (the daemon; see daemon/vad.py)."""
    neural_threshold: float = 0.5
    """silero-vad speech probability a frame needs."""
    text_endpoint: bool = True
    """End an utterance as soon as the decode at its tentative end closes a sentence, and wait up
    to ``open_hangover_ms`` when it does not (the daemon; needs ``early_ms`` > 0)."""
    open_hangover_ms: int = 800
    """With ``text_endpoint``: silence that ends an utterance whose text does not close a
    sentence (a pause inside one); at least ``hangover_ms``."""
    sentence_min_ms: int = 400
    """With ``text_endpoint``: the least silence after which a sentence verdict ends the
    utterance. A verdict that comes sooner waits until the pause is this long, so that a pause
    inside a sentence which the decode took for its end ("... somewhere safe. And ...", up to
    360 ms of silence for the segmenter in the held-out corpus) is resumed in time, however fast
    the decode is."""
    sentence_logprob: float = -0.5
    """With ``text_endpoint``: the log-probability the closing mark and the word before it need
    each for the text to count as a finished sentence (0 = certain; -0.5 is p >= 0.6; on the
    corpora every final's is above -0.41 with the previous text as prompt)."""
    max_utterance_s: float = 20.0
    """Utterances are split before reaching this length (Whisper's window is 30 s)."""
    split_search_s: float = 3.0
    """How far back from the max length to look for a pause to split at."""

    def __post_init__(self) -> None:
        _check_int("aggressiveness", self.aggressiveness, 0, 3)
        _check_int("frame_ms", self.frame_ms, 10, 30)
        if self.frame_ms not in (10, 20, 30):
            raise ValueError(f"frame_ms: must be 10, 20 or 30, got {self.frame_ms}")
        _check_int("onset_ms", self.onset_ms, 1)
        _check_int("hangover_ms", self.hangover_ms, 1)
        _check_int("preroll_ms", self.preroll_ms, 0)
        _check_int("early_ms", self.early_ms, 0)
        _check_int("resume_ms", self.resume_ms, 1)
        if isinstance(self.speech_gate, bool) or not isinstance(self.speech_gate, (int, float)) \
                or not 0.0 < self.speech_gate <= 1.0:
            raise ValueError(f"speech_gate: must be a number in (0, 1], got {self.speech_gate!r}")
        if isinstance(self.snr_db, bool) or not isinstance(self.snr_db, (int, float)) \
                or not 0.0 <= self.snr_db <= 40.0:
            raise ValueError(f"snr_db: must be a number in 0..40, got {self.snr_db!r}")
        _check_seconds("floor_window_s", self.floor_window_s)
        if not isinstance(self.neural, bool):
            raise ValueError(f"neural: expected true or false, got {self.neural!r}")
        if isinstance(self.neural_threshold, bool) or not isinstance(self.neural_threshold, (int, float)) \
                or not 0.0 < self.neural_threshold < 1.0:
            raise ValueError(f"neural_threshold: must be a number in (0, 1), got {self.neural_threshold!r}")
        if not isinstance(self.text_endpoint, bool):
            raise ValueError(f"text_endpoint: expected true or false, got {self.text_endpoint!r}")
        _check_int("open_hangover_ms", self.open_hangover_ms, 1)
        if self.open_hangover_ms < self.hangover_ms:
            raise ValueError(f"open_hangover_ms: must be at least hangover_ms ({self.hangover_ms}), "
                             f"got {self.open_hangover_ms}")
        _check_int("sentence_min_ms", self.sentence_min_ms, 0)
        if self.sentence_min_ms >= self.open_hangover_ms:
            raise ValueError(f"sentence_min_ms: must be less than open_hangover_ms ({self.open_hangover_ms}), "
                             f"got {self.sentence_min_ms}")
        if isinstance(self.sentence_logprob, bool) or not isinstance(self.sentence_logprob, (int, float)) \
                or not -10.0 <= self.sentence_logprob <= 0.0:
            raise ValueError(f"sentence_logprob: must be a number in -10..0, got {self.sentence_logprob!r}")
        if self.early_ms >= self.hangover_ms:
            raise ValueError(f"early_ms: must be less than hangover_ms ({self.hangover_ms}), got {self.early_ms}")
        max_s = _check_seconds("max_utterance_s", self.max_utterance_s)
        search_s = _check_seconds("split_search_s", self.split_search_s)
        if search_s >= max_s:
            raise ValueError(f"split_search_s: must be less than max_utterance_s ({max_s}), got {search_s}")
        if max_s * 1000 <= self.preroll_ms + self.onset_ms + self.frame_ms:
            raise ValueError(f"max_utterance_s: must exceed preroll_ms + onset_ms + frame_ms, got {max_s}")

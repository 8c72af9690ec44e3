"""What flows between stages, as typed immutable objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


class DecodeCancelled(Exception):
    """A decode was abandoned because its `cancel()` callback became true."""


@dataclass(frozen=True)
class DecodeRequest:
    """One decode asked of a backend (see `stenod.asr.api.Backend.transcribe_batch`).

    `audio`: up to 30 s of 16 kHz mono float32. `prefix`: forced text tokens (an already committed
    beginning) that decoding continues from. `prompt`: previous-text tokens (from the backend's
    `encode_prompt`), given to Whisper after <|startofprev|>. `draft`: tokens this decode probably
    repeats (the previous decode of the same growing utterance), verified in one pass (plain greedy
    decoding of a single request; the result is unchanged). `beams` > 1: beam search. `cancel()`:
    polled between encoder layers and decoder passes; when true, the decode is abandoned.
    """

    audio: np.ndarray
    prefix: tuple[int, ...] = ()
    prompt: tuple[int, ...] = ()
    draft: tuple[int, ...] = ()
    beams: int = 1
    cancel: Callable[[], bool] | None = None

    def __post_init__(self) -> None:
        if self.beams < 1:
            raise ValueError(f"beams must be >= 1, got {self.beams}")


@dataclass(frozen=True)
class DecodeStats:
    """How one decode went, beyond its text: draft verification (plain greedy decoding with a
    draft), the assistant's acceptance (speculative decoding), and the batch it ran in."""

    draft_tokens: int | None = None  # draft tokens offered (None: decoded without a draft)
    draft_accepted: int = 0
    assistant_proposed: int | None = None  # speculative only (None: no assistant)
    assistant_accepted: int = 0
    assistant_rounds: int = 0  # verifying passes of the main model
    batch_size: int = 1  # requests decoded together in this decode's batch

    @property
    def acceptance_rate(self) -> float | None:
        return self.assistant_accepted / self.assistant_proposed if self.assistant_proposed else None

    def timings(self) -> dict[str, int | float | None]:
        """The keys of a final's `timings` (docs/protocol.md) that describe this decode."""
        out: dict[str, int | float | None] = {"batch_size": self.batch_size}
        if self.draft_tokens is not None:
            out.update(draft_tokens=self.draft_tokens, draft_accepted=self.draft_accepted)
        if self.assistant_proposed is not None:
            rate = self.acceptance_rate
            out.update(assistant_tokens_proposed=self.assistant_proposed,
                       assistant_tokens_accepted=self.assistant_accepted, assistant_rounds=self.assistant_rounds,
                       acceptance_rate=None if rate is None else round(rate, 4))
        return out


@dataclass(frozen=True)
class Transcript:
    """One decoding of one stretch of audio, after the decoding guards.

    `text` is empty when the guards judged the audio to hold no speech; `guard` then says why.
    """

    text: str
    tokens: tuple[int, ...] = ()
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    token_logprobs: tuple[float, ...] = ()  # of the decoded (not forced) tokens, the last of `tokens`;
    # beam search gives each the beam's mean score
    guard: str | None = None
    audio_s: float = 0.0
    encode_ms: float = 0.0
    decode_ms: float = 0.0
    stats: DecodeStats = field(default_factory=DecodeStats)

    @property
    def total_ms(self) -> float:
        return self.encode_ms + self.decode_ms

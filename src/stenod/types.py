"""What flows between stages, as typed immutable objects."""

from __future__ import annotations

from dataclasses import dataclass, field


class DecodeCancelled(Exception):
    """A decode was abandoned because its `cancel()` callback became true."""


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
    extra: dict = field(default_factory=dict)  # e.g. speculative acceptance counts

    @property
    def total_ms(self) -> float:
        return self.encode_ms + self.decode_ms

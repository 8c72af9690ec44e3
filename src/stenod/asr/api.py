"""The contract between the inference worker (or `stenod transcribe`, or the bench) and a model.

A backend is loaded by a loader (`stenod.asr.backend.load_backend`, or any callable returning a
`Backend`), warmed up once, then asked for batches of typed `DecodeRequest`s; it answers with one
`Transcript` per request (None for a request whose `cancel()` turned true), each with its typed
`DecodeStats`. `status()` says how it decodes. No torch here: clients and the config import it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from stenod.types import DecodeRequest, Transcript


@dataclass(frozen=True)
class BackendStatus:
    """How a backend decodes, with the assistant's cumulative acceptance (speculative decoding)."""

    mode: str  # plain | speculative
    device: str
    dtype: str  # float32 | float16 | bfloat16
    attention: str
    static_cache: bool = False
    compile: bool = False
    batching: bool = True  # whether transcribe_batch decodes several requests as one batch
    assistant_model: str | None = None
    assistant_encoder: str | None = None  # shared | own
    assistant_proposed: int = 0
    assistant_accepted: int = 0
    assistant_rounds: int = 0

    @property
    def acceptance_rate(self) -> float | None:
        return self.assistant_accepted / self.assistant_proposed if self.assistant_proposed else None


class Backend(Protocol):
    """One model on one device, used by one thread at a time."""

    @property
    def name(self) -> str: ...

    @property
    def device(self) -> str: ...

    def warm_up(self) -> None:
        """Pay for lazy initialisation (and compilation) before the first real request."""

    def encode_prompt(self, vocabulary: Sequence[str], context: str, max_tokens: int) -> list[int]:
        """Prompt tokens for a `DecodeRequest`: the vocabulary, then the end of `context`."""

    def transcribe_batch(self, requests: Sequence[DecodeRequest]) -> list[Transcript | None]:
        """Decode every request (as one batch where the backend can); None where cancelled."""

    def status(self) -> BackendStatus: ...


BackendLoader = Callable[[], Backend]

"""The native API of `stenod serve` (docs/protocol.md, "Inference service"): decode requests with
their prefix, prompt and draft tokens, prompts encoded by the service's tokenizer, its status."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stenod.asr.api import BackendStatus
from stenod.remote.link import Link, RemoteError
from stenod.serve.wire import WireError, request_to_wire, status_from_wire, transcript_from_wire
from stenod.types import DecodeRequest, Transcript

DECODE, PROMPT, STATUS = "/v1/stenod/decode", "/v1/stenod/prompt", "/v1/stenod/status"


class NativeApi:
    def __init__(self, link: Link):
        self.link = link

    def describe(self) -> tuple[str, str, BackendStatus]:
        """(model name, device, how it decodes) as the service reports them."""
        try:
            return status_from_wire(self.link.get(STATUS))
        except WireError as exc:
            raise RemoteError(f"{self.link.url}: {exc}") from None

    def encode_prompt(self, vocabulary: Sequence[str], context: str, max_tokens: int, *, must: bool) -> list[int]:
        body = {"vocabulary": list(vocabulary), "context": context, "max_tokens": max_tokens}
        answer = self.link.post(PROMPT, json=body, must=must)
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise RemoteError(f"{self.link.url}{PROMPT}: expected {{\"tokens\": [...]}}, got {str(answer)[:200]}")
        return tokens

    def decode(self, requests: Sequence[DecodeRequest], *, must: bool,
               cancel: Callable[[], bool] | None) -> list[Transcript | None]:
        answer = self.link.post(DECODE, json={"requests": [request_to_wire(r) for r in requests]},
                                must=must, cancel=cancel)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(requests):
            raise RemoteError(f"{self.link.url}{DECODE}: expected {len(requests)} results, got {str(answer)[:200]}")
        try:
            return [transcript_from_wire(r) for r in results]
        except WireError as exc:
            raise RemoteError(f"{self.link.url}{DECODE}: {exc}") from None

"""`RemoteBackend`: the `Backend` contract (asr/api.py) over HTTP, for a daemon whose inference runs
in a service (`stenod serve`, or an OpenAI-compatible server). No torch here.

While the service is unreachable, this backend alone decides what happens to a decode:

- a request with a ``cancel()`` callback is one the worker can do without (a partial, a final
  decoded ahead of the end of speech): it is answered None (skipped);
- a request without one (a final) waits, retrying with backoff, until the service answers
  (``queued_finals`` in the status event), so nothing is lost; the utterances spoken meanwhile
  wait in the worker's inbox and are decoded in order once it is back;
- with ``fallback = "local"`` every request goes to the local model instead (loaded at the first
  outage and kept), until the service answers again.

Each change is reported through ``on_change`` as the ``detail.remote`` of a status event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from stenod.asr.api import Backend, BackendLoader, BackendStatus
from stenod.remote.link import Cancelled, Link, LinkState, RemoteError, Unreachable
from stenod.types import DecodeRequest, Transcript

log = logging.getLogger("stenod.remote")
PROMPT_CACHE = 64


class Api(Protocol):
    """One HTTP API of an inference service (native.py, openai.py)."""

    def describe(self) -> tuple[str, str, BackendStatus]: ...

    def encode_prompt(self, vocabulary: Sequence[str], context: str, max_tokens: int, *, must: bool) -> list[int]: ...

    def decode(self, requests: Sequence[DecodeRequest], *, must: bool,
               cancel: Callable[[], bool] | None) -> list[Transcript | None]: ...


class RemoteBackend:
    def __init__(self, link: Link, api: Api, on_change: Callable[[dict], None] = lambda detail: None,
                 fallback: BackendLoader | None = None):
        self.link, self.api, self._on_change, self._load_fallback = link, api, on_change, fallback
        self._local: Backend | None = None
        self._using_local = False
        self._name, self._device = "", f"remote:{link.url}"
        self._status = BackendStatus(mode="plain", device=self._device, dtype="", attention="")
        self._prompts: dict[tuple, list[int]] = {}
        self._lock = threading.Lock()
        link.watch(self._link_changed)

    @property
    def name(self) -> str:
        return self._local.name if self._using_local and self._local else self._name

    @property
    def device(self) -> str:
        return self._device

    def warm_up(self) -> None:
        """Ask the service who it is; raises RemoteError (a refused token, a server of another
        kind) or, without a fallback, Unreachable. With the fallback it starts on the local model."""
        try:
            self._describe()
        except Unreachable as exc:
            if self._load_fallback is None:
                raise RemoteError(f"cannot reach the inference service at {self.link.url}: {exc} "
                                  "(is `stenod serve` running? or set [model] fallback = \"local\")") from None
            self._switch_local()

    def _describe(self) -> None:
        name, device, status = self.api.describe()
        with self._lock:
            self._name, self._device = name, f"remote:{self.link.url} ({device})"
            self._status = replace(status, device=self._device)

    def status(self) -> BackendStatus:
        with self._lock:
            return self._status

    def encode_prompt(self, vocabulary: Sequence[str], context: str, max_tokens: int) -> list[int]:
        key = (tuple(vocabulary), context, max_tokens, self._using_local)
        if key not in self._prompts:
            if len(self._prompts) >= PROMPT_CACHE:
                self._prompts.pop(next(iter(self._prompts)))
            self._prompts[key] = self._route(
                lambda must: self.api.encode_prompt(vocabulary, context, max_tokens, must=must),
                lambda local: local.encode_prompt(vocabulary, context, max_tokens), must=True)
        return self._prompts[key]

    def transcribe_batch(self, requests: Sequence[DecodeRequest]) -> list[Transcript | None]:
        cancels = [r.cancel for r in requests if r.cancel is not None]
        needed = len(cancels) < len(requests)
        cancel = (lambda: all(c() for c in cancels)) if not needed else None
        try:
            return self._route(lambda must: self.api.decode(requests, must=must, cancel=cancel),
                               lambda local: local.transcribe_batch(requests), must=needed)
        except Unreachable:
            return [None] * len(requests)  # skipped while the service is down (partials)
        except Cancelled:
            return [None] * len(requests)

    def _route(self, remote, local, *, must: bool):
        """Call the service (or the local model while on the fallback and the service is still
        down); `must` without a fallback waits for the service."""
        with_fallback = self._load_fallback is not None
        if self._using_local and self.link.down:
            try:
                result = remote(False)  # a probe at most every PROBE_S; Unreachable otherwise
            except Unreachable:
                return local(self._local)
            self._switch_remote()
            return result
        try:
            return remote(must and not with_fallback)
        except Unreachable:
            if not with_fallback:
                raise
            self._switch_local()
            return local(self._local)

    def _switch_local(self) -> None:
        if self._local is None:
            log.warning("decoding with the local model while %s is unreachable (loading it)", self.link.url)
            self._local = self._load_fallback()
            self._local.warm_up()
        else:
            log.warning("decoding with the local model %s while %s is unreachable", self._local.name, self.link.url)
        self._using_local = True
        self._link_changed(self.link.state)

    def _switch_remote(self) -> None:
        log.info("decoding with the service at %s again", self.link.url)
        self._using_local = False
        try:
            self._describe()
        except Unreachable:
            pass  # it answered a decode just now; the status stays as it was
        self._link_changed(self.link.state)

    def _link_changed(self, state: LinkState) -> None:
        detail = state.detail()
        if self._load_fallback is not None:
            detail["decoding"] = "local" if self._using_local else "remote"
        self._on_change(detail)

"""The HTTP link to an inference service: authorised requests with a time limit and retries with
backoff, and whether the service is reachable (one owner of that state, reported on change).

A request the caller *needs* (``must``: a final's decode) waits for the service, retrying with
backoff for as long as it takes; it is counted in ``queued_finals`` meanwhile. A request the caller
can do without (a partial) gets :class:`Unreachable` once the retries are spent, and at once while
the service is known to be down (one probe every ``PROBE_S`` finds out that it is back). A request's
``cancel()`` is polled between attempts and during the waits.

Built on `requests` (a maintained, synchronous client: the inference worker is one thread that
waits for each answer). The retry loop is written here rather than with urllib3's ``Retry``
because it must poll ``cancel()``, keep a waiting final going past the retry count and publish
the reachability changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import requests

log = logging.getLogger("stenod.remote")
BACKOFF_S = (0.2, 2.0)  # first wait between attempts, doubled up to the second
PROBE_S = 2.0  # while down: how often a request that may be skipped tries the service once


class RemoteError(RuntimeError):
    """The service refused a request or answered something else than its API; the message says which."""


class RemoteAuthError(RemoteError):
    """The service refused the token (HTTP 401/403)."""


class Unreachable(Exception):
    """The service did not answer a request that may be skipped."""


class Cancelled(Exception):
    """The request's ``cancel()`` turned true between attempts."""


@dataclass(frozen=True)
class LinkState:
    """What a status event's ``detail.remote`` says (docs/protocol.md)."""

    state: Literal["reachable", "unreachable"]
    url: str
    since_mono_ns: int
    queued_finals: int
    error: str | None = None

    def detail(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Link:
    def __init__(self, url: str, token: str | None, timeout_s: float, retries: int):
        self.url, self.timeout_s, self.retries = url.rstrip("/"), timeout_s, retries
        self._on_change: Callable[[LinkState], None] = lambda state: None
        self._http = requests.Session()
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"
        self._lock = threading.Lock()
        self._state = LinkState("reachable", self.url, time.monotonic_ns(), 0)
        self._next_probe = 0.0

    def watch(self, on_change: Callable[[LinkState], None]) -> None:
        """Call ``on_change`` with each new state (from the thread whose request changed it)."""
        self._on_change = on_change

    @property
    def state(self) -> LinkState:
        with self._lock:
            return self._state

    @property
    def down(self) -> bool:
        return self.state.state == "unreachable"

    def get(self, path: str, *, must: bool = False) -> Any:
        return self._call("GET", path, must=must).json()

    def post(self, path: str, *, must: bool = False, cancel: Callable[[], bool] | None = None, **kw) -> Any:
        """POST (``json=`` or ``files=``/``data=``); the decoded JSON answer."""
        r = self._call("POST", path, must=must, cancel=cancel, **kw)
        try:
            return r.json()
        except ValueError:
            raise RemoteError(f"{self.url}{path} did not answer JSON: {r.text[:200]!r}") from None

    def _call(self, method: str, path: str, *, must: bool, cancel: Callable[[], bool] | None = None,
              **kw) -> requests.Response:
        failures, delay, queued = 0, BACKOFF_S[0], False
        try:
            while True:
                if cancel is not None and cancel():
                    raise Cancelled()
                if not must and self.down:
                    if time.monotonic() < self._next_probe:
                        raise Unreachable(self.state.error)
                    self._next_probe = time.monotonic() + PROBE_S
                failure = self._attempt(method, path, **kw)
                if isinstance(failure, requests.Response):
                    self._change("reachable", None, queued=-1 if queued else 0)
                    queued = False
                    return failure
                failures += 1
                if failures > self.retries or self.down:
                    self._change("unreachable", failure)
                    if not must:
                        raise Unreachable(failure)
                    if not queued:
                        queued = True
                        self._change("unreachable", failure, queued=+1)
                _sleep(delay, cancel)
                delay = min(delay * 2, BACKOFF_S[1])
        finally:
            if queued:  # cancelled while waiting
                self._change("unreachable", None, queued=-1)

    def _attempt(self, method: str, path: str, **kw) -> requests.Response | str:
        """The answer, or why there was none (a failure worth retrying)."""
        try:
            r = self._http.request(method, self.url + path, timeout=self.timeout_s, **kw)
        except requests.Timeout:
            return f"no answer within {self.timeout_s:g} s"
        except requests.ConnectionError as exc:
            return f"cannot connect ({_reason(exc)})"
        if r.status_code in (401, 403):
            raise RemoteAuthError(f"{self.url} refused the token (HTTP {r.status_code}): check --token-file "
                                  "(stenod serve keeps its token in $XDG_CONFIG_HOME/stenod/serve.token)")
        if r.status_code >= 500 or r.status_code == 429:
            return f"HTTP {r.status_code}"
        if r.status_code >= 400:
            raise RemoteError(f"{self.url}{path} refused the request: HTTP {r.status_code} {r.text[:300]}")
        return r

    def _change(self, state: Literal["reachable", "unreachable"], error: str | None, queued: int = 0) -> None:
        with self._lock:
            old = self._state
            if old.state == state and not queued:
                return
            since = old.since_mono_ns if old.state == state else time.monotonic_ns()
            new = LinkState(state, self.url, since, max(0, old.queued_finals + queued),
                            error if state == "unreachable" else None)
            if state == "unreachable" and error is None:
                new = LinkState(state, self.url, since, new.queued_finals, old.error)
            self._state = new
        if old.state != state:
            (log.warning if state == "unreachable" else log.info)(
                "service %s %s", self.url, f"unreachable: {error}" if state == "unreachable" else "reachable again")
        self._on_change(new)


def _sleep(seconds: float, cancel: Callable[[], bool] | None) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if cancel is not None and cancel():
            raise Cancelled()
        time.sleep(min(left, 0.05))


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:200] if text else type(exc).__name__

"""Client side of the daemon's control socket: one-shot :func:`request` and a kept
:class:`ControlClient`, both with timeouts and a clear error when no daemon answers.

ZeroMQ's REQ socket is strict send/receive lockstep: after a request that is never answered it
cannot send again. So on a timeout the socket is closed (LINGER 0, nothing left queued) and a new
one is made for the next request: the guide's "lazy pirate" pattern.
"""

from __future__ import annotations

import json
from typing import Any

import zmq

from stenod.protocol import ProtocolError, parse_reply


def curve(sock: zmq.Socket, endpoint: str) -> None:
    """CURVE client keys from the config for a tcp:// endpoint (ValueError when they are missing)."""
    from stenod.keys import CurveKeyError, client_keys_for

    try:
        keys = client_keys_for(endpoint)
        if keys is not None:
            keys.apply_client(sock)
    except CurveKeyError as exc:
        raise ValueError(f"{endpoint}: {exc}") from None

DEFAULT_TIMEOUT = 2.0


class DaemonUnavailable(ConnectionError):
    """No daemon answered a control request in time."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"no stenod daemon answering at {endpoint} — is `stenod run` running?")


class DaemonError(RuntimeError):
    """The daemon answered, but with ``{"ok": false}`` or with something that is not a reply."""


class ControlClient:
    """Requests over one REQ socket, rebuilt after a timeout. Not thread-safe (ZeroMQ sockets
    are not): use it from one thread."""

    def __init__(self, endpoint: str, timeout: float = DEFAULT_TIMEOUT, *, context: zmq.Context | None = None):
        self.endpoint, self.timeout = endpoint, timeout
        self._ctx = context or zmq.Context.instance()
        self._sock: zmq.Socket | None = self._connect()  # an unparsable endpoint fails here, early

    def request(self, cmd: str, *, check: bool = True, **fields: Any) -> dict[str, Any]:
        """Send ``{"cmd": cmd, **fields}`` and return the reply object.

        Raises :class:`DaemonUnavailable` after ``timeout`` seconds without a reply,
        :class:`DaemonError` for a malformed reply or (with ``check``) for ``{"ok": false}``, and
        ValueError for an endpoint ZeroMQ cannot parse.
        """
        if self._sock is None:
            self._sock = self._connect()
        raw = None
        try:
            self._sock.send(json.dumps({"cmd": cmd, **fields}).encode("utf-8"), zmq.NOBLOCK)
            poller = zmq.Poller()
            poller.register(self._sock, zmq.POLLIN)
            if poller.poll(max(0.0, self.timeout) * 1000):
                raw = self._sock.recv()
        except zmq.Again:
            pass
        if raw is None:
            self.close()
            raise DaemonUnavailable(self.endpoint)
        try:
            reply = parse_reply(raw)
        except ProtocolError as exc:
            raise DaemonError(f"malformed reply from {self.endpoint}: {exc}") from None
        if check and not reply["ok"]:
            raise DaemonError(f"daemon refused {cmd!r}: {reply['error']}")
        return reply

    def _connect(self) -> zmq.Socket:
        sock = self._ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            curve(sock, self.endpoint)
            sock.connect(self.endpoint)
        except zmq.ZMQError as exc:
            sock.close(0)
            raise ValueError(f"invalid ZeroMQ endpoint {self.endpoint!r}: {exc}") from None
        return sock

    def close(self) -> None:
        """Drop the socket (LINGER 0); the next request makes a new one."""
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None


def request(endpoint: str, cmd: str, timeout: float = DEFAULT_TIMEOUT, *, context: zmq.Context | None = None,
            check: bool = True, **fields: Any) -> dict[str, Any]:
    """One request to the control socket at ``endpoint`` over a fresh socket, closed afterwards;
    errors as in :meth:`ControlClient.request`."""
    client = ControlClient(endpoint, timeout, context=context)
    try:
        return client.request(cmd, check=check, **fields)
    finally:
        client.close()


def resolve_client_endpoints(events: str | None = None, control: str | None = None) -> tuple[str, str]:
    """``(events, control)`` for a client: the given ones, else the config file's ``[sockets]``,
    else the per-user defaults. The config file is only read when something is missing (and
    imported lazily: it pulls in numpy). Raises ``stenod.config.ConfigError``."""
    if events and control:
        return events, control
    from stenod.config import load_config, resolve_endpoints

    default_events, default_control = resolve_endpoints(load_config().sockets)
    return events or default_events, control or default_control


__all__ = ["DEFAULT_TIMEOUT", "DaemonUnavailable", "DaemonError", "ControlClient", "request",
           "resolve_client_endpoints"]

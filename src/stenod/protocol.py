"""The stenod wire protocol, version 1: event types, their codec, and control-socket messages.

Events travel on a ZeroMQ PUB socket as two frames, ``[topic, body]``: the topic in its own frame
(so subscription prefix matching never looks into the body) and a UTF-8 JSON object as the body.
Every body carries the envelope ``v``, ``type``, ``session``, ``seq``, ``t_wall`` and ``t_mono_ns``.

Pipeline stages build events without an envelope (the fields default to empty values); the
publisher, which alone owns the sequence counter, fills it in with :func:`stamp` just before
:func:`encode`.

Compatibility rules within v1: fields may be added, never removed or retyped. :func:`decode`
therefore ignores unknown fields, and raises :class:`UnknownEvent` (a :class:`ProtocolError`) for an
unknown topic so a client can skip it; anything else malformed raises :class:`ProtocolError`.

This module does no I/O; it is pure and cheap to import (no ZeroMQ, no numpy).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar, Union

SCHEMA_VERSION = 1

TOPIC_PREFIX = "stenod.v1."
TOPIC_TRANSCRIPT = TOPIC_PREFIX + "transcript."
TOPIC_PARTIAL = TOPIC_TRANSCRIPT + "partial"
TOPIC_FINAL = TOPIC_TRANSCRIPT + "final"
TOPIC_SPEECH_START = TOPIC_PREFIX + "speech.start"
TOPIC_SPEECH_END = TOPIC_PREFIX + "speech.end"
TOPIC_STATUS = TOPIC_PREFIX + "status"
TOPIC_HEARTBEAT = TOPIC_PREFIX + "heartbeat"

MAX_SEQ = 2**64 - 1
"""``seq`` is a 64-bit unsigned counter."""
DEFAULT_STREAM = "main"
"""The label of the one stream of a daemon started with an unlabelled source."""

MAX_REQUEST_BYTES = 65536
"""Largest control request accepted; anything bigger is refused before parsing."""


class ProtocolError(ValueError):
    """A message does not follow the protocol; the text says what is wrong."""


class UnknownEvent(ProtocolError):
    """An event topic or type this version does not know; clients should skip it, not fail."""


# --------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class AudioSpan:
    """A span of the audio stream's timeline, in milliseconds since the stream started."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.start_ms < 0 or self.end_ms < self.start_ms:
            raise ValueError(f"audio span needs 0 <= start_ms <= end_ms, got {self.start_ms}..{self.end_ms}")

    def to_json(self) -> dict[str, int]:
        """The span as the JSON object ``{"start_ms": ..., "end_ms": ...}``."""
        return {"start_ms": self.start_ms, "end_ms": self.end_ms}


@dataclass(frozen=True)
class _Envelope:
    """Fields every event carries; filled in by :func:`stamp` at publish time."""

    TYPE: ClassVar[str] = ""
    TOPIC: ClassVar[str] = ""

    session: str = field(default="", kw_only=True)
    seq: int = field(default=0, kw_only=True)
    t_wall: str = field(default="", kw_only=True)
    t_mono_ns: int = field(default=0, kw_only=True)

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= MAX_SEQ:
            raise ValueError(f"seq must be in 0..2**64-1, got {self.seq}")
        if self.t_mono_ns < 0:
            raise ValueError(f"t_mono_ns must be >= 0, got {self.t_mono_ns}")


@dataclass(frozen=True)
class _Transcript(_Envelope):
    """Shared shape of partial and final transcripts of one utterance."""

    utt: int
    rev: int
    audio: AudioSpan
    text: str
    stable_len: int
    dictation: bool = field(default=True, kw_only=True)
    """Whether dictation was on while the utterance was spoken: typing and clipboard clients act
    only on these. Events from a daemon that predates the field count as dictation."""
    stream: str = field(default=DEFAULT_STREAM, kw_only=True)
    """The label of the audio stream the utterance belongs to (``utt`` numbers are per stream).
    Events from a daemon that predates the field belong to stream ``main``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.utt < 0 or self.rev < 0:
            raise ValueError(f"utt and rev must be >= 0, got utt={self.utt} rev={self.rev}")
        if not 0 <= self.stable_len <= len(self.text):
            raise ValueError(f"stable_len must be in 0..len(text)={len(self.text)}, got {self.stable_len}")


@dataclass(frozen=True)
class Partial(_Transcript):
    """The whole text so far of utterance ``utt``; the highest ``rev`` wins.

    ``text[:stable_len]`` will not change in later revisions or in the final.
    """

    TYPE: ClassVar[str] = "partial"
    TOPIC: ClassVar[str] = TOPIC_PARTIAL


@dataclass(frozen=True)
class Final(_Transcript):
    """The closing text of utterance ``utt``; ``timings`` is a free-form JSON object of latencies
    (for example speech_start_ms, speech_end_ms, endpoint_ms, inference_ms)."""

    TYPE: ClassVar[str] = "final"
    TOPIC: ClassVar[str] = TOPIC_FINAL

    model: str
    timings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _SpeechBoundary(_Envelope):
    """Shared shape of speech start/end: the utterance and its position on the stream timeline."""

    utt: int
    audio_ms: int
    stream: str = field(default=DEFAULT_STREAM, kw_only=True)
    """The label of the audio stream (as in transcripts)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.utt < 0 or self.audio_ms < 0:
            raise ValueError(f"utt and audio_ms must be >= 0, got utt={self.utt} audio_ms={self.audio_ms}")


@dataclass(frozen=True)
class SpeechStart(_SpeechBoundary):
    """Speech began: utterance ``utt`` starts at ``audio_ms`` on the stream's timeline."""

    TYPE: ClassVar[str] = "speech.start"
    TOPIC: ClassVar[str] = TOPIC_SPEECH_START


@dataclass(frozen=True)
class SpeechEnd(_SpeechBoundary):
    """Speech ended: utterance ``utt`` ends at ``audio_ms`` (its final follows)."""

    TYPE: ClassVar[str] = "speech.end"
    TOPIC: ClassVar[str] = TOPIC_SPEECH_END


@dataclass(frozen=True)
class StatusEvent(_Envelope):
    """Daemon state change (e.g. ``loading``, ``ready``, ``error``) with free-form ``detail``."""

    TYPE: ClassVar[str] = "status"
    TOPIC: ClassVar[str] = TOPIC_STATUS

    state: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Heartbeat(_Envelope):
    """Sent every second; ``last_seq`` lets an idle client notice missed events."""

    TYPE: ClassVar[str] = "heartbeat"
    TOPIC: ClassVar[str] = TOPIC_HEARTBEAT

    last_seq: int

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.last_seq <= MAX_SEQ:
            raise ValueError(f"last_seq must be in 0..2**64-1, got {self.last_seq}")


Event = Union[Partial, Final, SpeechStart, SpeechEnd, StatusEvent, Heartbeat]
EVENT_TYPES: tuple[type[Event], ...] = (Partial, Final, SpeechStart, SpeechEnd, StatusEvent, Heartbeat)
STREAM_EVENTS: tuple[type[Event], ...] = (Partial, Final, SpeechStart, SpeechEnd)
"""The events that belong to one audio stream (they carry its label in ``stream``)."""
_BY_TOPIC: dict[str, type[Event]] = {cls.TOPIC: cls for cls in EVENT_TYPES}
_ENVELOPE = ("session", "seq", "t_wall", "t_mono_ns")

E = TypeVar("E", bound=_Envelope)


# ----------------------------------------------------------------------------------- stamping


def format_rfc3339(wall_ns: int) -> str:
    """Format nanoseconds since the Unix epoch as RFC 3339 UTC with microseconds,
    e.g. ``2026-11-24T21:30:00.123456Z``. Integer arithmetic, so no float rounding."""
    secs, ns = divmod(wall_ns, 1_000_000_000)
    dt = datetime.fromtimestamp(secs, tz=timezone.utc).replace(microsecond=ns // 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stamp(event: E, session: str, seq: int, *, wall_ns: int | None = None, mono_ns: int | None = None) -> E:
    """Return ``event`` with its envelope filled in: ``session``, ``seq`` and the current wall and
    monotonic clocks (``wall_ns``/``mono_ns`` override the clocks, for tests)."""
    wall = time.time_ns() if wall_ns is None else wall_ns
    mono = time.monotonic_ns() if mono_ns is None else mono_ns
    return dataclasses.replace(event, session=session, seq=seq, t_wall=format_rfc3339(wall), t_mono_ns=mono)


# -------------------------------------------------------------------------------------- codec


def _to_json(event: _Envelope) -> dict[str, Any]:
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "type": event.TYPE}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        body[f.name] = value.to_json() if isinstance(value, AudioSpan) else value
    return body


def encode(event: Event) -> list[bytes]:
    """Encode ``event`` as the two frames ``[topic, body]`` (UTF-8 JSON body with ``v`` and ``type``).

    Raises :class:`ProtocolError` if a free-form field (``timings``, ``detail``) holds something
    JSON cannot carry (including NaN and infinity, which strict JSON parsers reject).
    """
    if type(event) not in _BY_TOPIC.values():
        raise ProtocolError(f"not a protocol event: {type(event).__name__}")
    try:
        body = json.dumps(_to_json(event), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"cannot encode {event.TYPE} event: {exc}") from exc
    return [event.TOPIC.encode("ascii"), body.encode("utf-8")]


def _json_int(where: str, value: Any) -> int:
    # JSON has one number type; accept 3.0 from lenient encoders, refuse 3.5 and booleans.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{where}: expected an integer, got {value!r}")
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise ProtocolError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    return value


def _field_value(where: str, hint: Any, value: Any) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise ProtocolError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        return _json_int(where, value)
    if hint is str:
        if not isinstance(value, str):
            raise ProtocolError(f"{where}: expected a string, got {value!r}")
        return value
    if hint is AudioSpan:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object {{start_ms, end_ms}}, got {value!r}")
        try:
            return AudioSpan(
                _json_int(f"{where}.start_ms", value["start_ms"]), _json_int(f"{where}.end_ms", value["end_ms"])
            )
        except KeyError as exc:
            raise ProtocolError(f"{where}: missing field {exc.args[0]!r}") from None
        except ValueError as exc:
            if isinstance(exc, ProtocolError):
                raise
            raise ProtocolError(f"{where}: {exc}") from None
    if typing.get_origin(hint) is dict:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object, got {value!r}")
        return value
    raise TypeError(f"no decoder for field type {hint!r}")  # a programming error in this module


_HINTS: dict[type, dict[str, Any]] = {cls: typing.get_type_hints(cls) for cls in EVENT_TYPES}


def decode(frames: Sequence[bytes]) -> Event:
    """Decode the frames ``[topic, body]`` of one event.

    Unknown fields are ignored; a field added later in v1 with a default may be absent. Raises
    :class:`UnknownEvent` for a topic this version does not know and :class:`ProtocolError` for
    anything malformed (frame count, UTF-8, JSON, version, missing or ill-typed fields).
    """
    if len(frames) != 2:
        raise ProtocolError(f"expected 2 frames [topic, body], got {len(frames)}")
    try:
        topic = bytes(frames[0]).decode("utf-8")
        text = bytes(frames[1]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"frame is not valid UTF-8: {exc}") from None
    cls = _BY_TOPIC.get(topic)
    if cls is None:
        raise UnknownEvent(f"unknown topic {topic!r}")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{topic}: body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"{topic}: body must be a JSON object, got {type(body).__name__}")
    if "v" not in body:
        raise ProtocolError(f"{topic}: missing field 'v'")
    if _json_int(f"{topic}: v", body["v"]) != SCHEMA_VERSION:
        raise ProtocolError(f"{topic}: unsupported schema version {body['v']!r} (this is v{SCHEMA_VERSION})")
    if body.get("type") != cls.TYPE:
        raise ProtocolError(f"{topic}: type {body.get('type')!r} does not match the topic (expected {cls.TYPE!r})")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in body:
            optional = f.name not in _ENVELOPE and (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            if optional:
                continue
            raise ProtocolError(f"{topic}: missing field {f.name!r}")
        kwargs[f.name] = _field_value(f"{topic}: {f.name}", _HINTS[cls][f.name], body[f.name])
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ProtocolError(f"{topic}: {exc}") from None


# ------------------------------------------------------------------------------------ control


def _load_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(bytes(raw).decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError(f"{what} is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def parse_request(raw: bytes) -> dict[str, Any]:
    """Parse a control request: a JSON object (at most :data:`MAX_REQUEST_BYTES`) with a string
    ``cmd``. Raises :class:`ProtocolError` with a message fit to send back in an error reply."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise ProtocolError(f"request too large: {len(raw)} bytes (limit {MAX_REQUEST_BYTES})")
    request = _load_object(raw, "request")
    cmd = request.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        raise ProtocolError("request needs a non-empty string field 'cmd'")
    return request


def check_fields(request: dict[str, Any], allowed: Sequence[str] = ()) -> None:
    """Raise :class:`ProtocolError` naming the fields of a control request (besides ``cmd``) that
    its command does not take: an argument the daemon would ignore is refused, not dropped."""
    unknown = [name for name in request if name != "cmd" and name not in allowed]
    if unknown:
        takes = ", ".join(repr(a) for a in allowed) or "no other field"
        raise ProtocolError(f"{request['cmd']}: unknown field{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(repr(n) for n in unknown)} (it takes {takes})")


def ok_reply(**fields: Any) -> bytes:
    """Encode a success reply ``{"ok": true, **fields}``."""
    if "ok" in fields:
        raise ValueError("'ok' is set by ok_reply itself")
    return json.dumps({"ok": True, **fields}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_reply(msg: str) -> bytes:
    """Encode a failure reply ``{"ok": false, "error": msg}``."""
    return json.dumps({"ok": False, "error": str(msg)}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_reply(raw: bytes) -> dict[str, Any]:
    """Parse a control reply: a JSON object with a boolean ``ok`` (and a string ``error`` when it
    is false). The caller decides what to do with ``ok: false``; this only checks the shape."""
    reply = _load_object(raw, "reply")
    if not isinstance(reply.get("ok"), bool):
        raise ProtocolError("reply needs a boolean field 'ok'")
    if not reply["ok"] and not isinstance(reply.get("error"), str):
        raise ProtocolError("failed reply needs a string field 'error'")
    return reply


__all__ = [
    "SCHEMA_VERSION", "TOPIC_PREFIX", "TOPIC_TRANSCRIPT", "TOPIC_PARTIAL", "TOPIC_FINAL",
    "TOPIC_SPEECH_START", "TOPIC_SPEECH_END", "TOPIC_STATUS", "TOPIC_HEARTBEAT", "MAX_SEQ",
    "MAX_REQUEST_BYTES", "ProtocolError", "UnknownEvent", "AudioSpan", "Partial", "Final",
    "SpeechStart", "SpeechEnd", "StatusEvent", "Heartbeat", "Event", "EVENT_TYPES",
    "format_rfc3339", "stamp", "encode", "decode", "parse_request", "check_fields", "ok_reply", "error_reply",
    "parse_reply",
]  # fmt: skip

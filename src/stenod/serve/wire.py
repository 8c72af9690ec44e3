"""The native wire format between `stenod serve` and the daemon's remote backend: typed decode
requests, transcripts and backend status as JSON objects (no torch, no HTTP here).

Audio travels as base64 of 16 kHz mono signed 16-bit little-endian PCM: the daemon's ring holds
int16 samples, so the float32 a local decode would see is restored exactly. A request's `cancel`
callback does not travel (a remote decode runs to its end). `from_wire` functions check what they
are given and raise `WireError` with a message naming the field.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, fields
from typing import Any

import numpy as np

from stenod.asr.api import BackendStatus
from stenod.types import DecodeRequest, DecodeStats, Transcript

WIRE_VERSION = 1
MAX_AUDIO_S = 30.0


class WireError(ValueError):
    """A request or answer does not have the native format; the message names what is wrong."""


def _pcm_from_float(audio: np.ndarray) -> bytes:
    return (np.clip(np.asarray(audio, dtype=np.float32), -1.0, 32767 / 32768) * 32768).round().astype("<i2").tobytes()


def _ints(d: dict, key: str) -> tuple[int, ...]:
    value = d.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise WireError(f"'{key}' must be a list of token ids")
    return tuple(value)


def request_to_wire(req: DecodeRequest) -> dict[str, Any]:
    return {"audio": base64.b64encode(_pcm_from_float(req.audio)).decode("ascii"), "prefix": list(req.prefix),
            "prompt": list(req.prompt), "draft": list(req.draft), "beams": req.beams}


def request_from_wire(d: Any) -> DecodeRequest:
    if not isinstance(d, dict):
        raise WireError("a request must be a JSON object")
    unknown = set(d) - {"audio", "prefix", "prompt", "draft", "beams"}
    if unknown:
        raise WireError(f"unknown request field(s): {', '.join(sorted(unknown))}")
    try:
        raw = base64.b64decode(d["audio"], validate=True)
    except KeyError:
        raise WireError("'audio' is missing") from None
    except (TypeError, ValueError):
        raise WireError("'audio' must be base64 of 16 kHz mono s16le PCM") from None
    if len(raw) % 2:
        raise WireError("'audio' must be base64 of 16 kHz mono s16le PCM (an odd number of bytes)")
    if len(raw) // 2 > MAX_AUDIO_S * 16000:
        raise WireError(f"'audio' is longer than {MAX_AUDIO_S:g} s")
    beams = d.get("beams", 1)
    if not isinstance(beams, int) or isinstance(beams, bool) or not 1 <= beams <= 16:
        raise WireError("'beams' must be an integer from 1 to 16")
    audio = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return DecodeRequest(audio=audio, prefix=_ints(d, "prefix"), prompt=_ints(d, "prompt"),
                         draft=_ints(d, "draft"), beams=beams)


def transcript_to_wire(t: Transcript | None) -> dict[str, Any] | None:
    if t is None:
        return None
    out = asdict(t)
    out["tokens"], out["token_logprobs"] = list(t.tokens), list(t.token_logprobs)
    return out


def transcript_from_wire(d: Any) -> Transcript | None:
    if d is None:
        return None
    if not isinstance(d, dict) or not isinstance(d.get("text"), str):
        raise WireError("a transcript must be a JSON object with a 'text' string")
    known = {f.name for f in fields(Transcript)}
    stats_known = {f.name for f in fields(DecodeStats)}
    try:
        stats = DecodeStats(**{k: v for k, v in (d.get("stats") or {}).items() if k in stats_known})
        kw = {k: v for k, v in d.items() if k in known and k != "stats"}
        kw["tokens"] = tuple(kw.get("tokens", ()))
        kw["token_logprobs"] = tuple(kw.get("token_logprobs", ()))
        return Transcript(**kw, stats=stats)
    except (TypeError, AttributeError) as exc:
        raise WireError(f"malformed transcript: {exc}") from None


def status_to_wire(name: str, device: str, status: BackendStatus) -> dict[str, Any]:
    return {"wire_version": WIRE_VERSION, "name": name, "device": device, "status": asdict(status)}


def status_from_wire(d: Any) -> tuple[str, str, BackendStatus]:
    """(model name, device, how it decodes) from the service's status answer."""
    if not isinstance(d, dict) or d.get("wire_version") != WIRE_VERSION:
        raise WireError(f"not a stenod service speaking wire version {WIRE_VERSION}: {str(d)[:200]}")
    known = {f.name for f in fields(BackendStatus)}
    try:
        return d["name"], d["device"], BackendStatus(**{k: v for k, v in d["status"].items() if k in known})
    except (KeyError, TypeError, AttributeError) as exc:
        raise WireError(f"malformed status: {exc}") from None

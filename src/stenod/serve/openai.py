"""OpenAI's `POST /v1/audio/transcriptions` answer formats, built from stenod's typed transcripts.

A file longer than one Whisper window is cut the way `stenod transcribe` cuts it
(`stenod.audio.split_windows`); each window becomes one `verbose_json` segment with the guard
inputs OpenAI clients read (`avg_logprob`, `no_speech_prob`, `compression_ratio`). Pure: no HTTP.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal, get_args

from stenod import SAMPLE_RATE
from stenod.subtitles import Cue, to_srt, to_vtt
from stenod.types import Transcript

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
RESPONSE_FORMATS: tuple[str, ...] = get_args(ResponseFormat)
MEDIA_TYPES = {"json": "application/json", "verbose_json": "application/json", "text": "text/plain",
               "srt": "application/x-subrip", "vtt": "text/vtt"}


class OpenAIError(ValueError):
    """A request OpenAI's API would refuse; `param` names the form field."""

    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.param, self.status, self.kind = param, status, kind


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None,
               param: str | None = None) -> dict:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass(frozen=True)
class Segment:
    """One window of the file, in OpenAI's `verbose_json` segment shape."""

    id: int
    seek: int  # the window's start in 10 ms frames, as Whisper counts
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: the text's size over its zlib-compressed size."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def segments(windows: Sequence[int], results: Sequence[Transcript], temperature: float = 0.0) -> list[Segment]:
    """One segment per window (`windows`: the length of each in samples) and its transcript."""
    out, start = [], 0
    for i, (n, t) in enumerate(zip(windows, results)):
        out.append(Segment(id=i, seek=start * 100 // SAMPLE_RATE, start=round(start / SAMPLE_RATE, 3),
                           end=round((start + n) / SAMPLE_RATE, 3), text=t.text, tokens=list(t.tokens),
                           temperature=temperature, avg_logprob=t.avg_logprob,
                           compression_ratio=round(compression_ratio(t.text), 4), no_speech_prob=t.no_speech_prob))
        start += n
    return out


def check_format(value: str) -> ResponseFormat:
    if value not in RESPONSE_FORMATS:
        raise OpenAIError(f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, got {value!r}",
                          param="response_format")
    return value  # type: ignore[return-value]


def render(fmt: ResponseFormat, segs: Sequence[Segment], duration_s: float, language: str = "english") -> str:
    """The response body for `fmt`."""
    text = " ".join(s.text for s in segs if s.text)
    if fmt == "text":
        return text + "\n"
    if fmt == "json":
        return json.dumps({"text": text})
    if fmt == "verbose_json":
        return json.dumps({"task": "transcribe", "language": language, "duration": round(duration_s, 3),
                           "text": text, "segments": [asdict(s) for s in segs]})
    cues = [Cue(round(s.start * 1000), round(s.end * 1000), s.text) for s in segs if s.text]
    return to_srt(cues) if fmt == "srt" else to_vtt(cues)

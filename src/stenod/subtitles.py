"""Subtitle formats (SRT, WebVTT, plain text) from timed cues; pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    """One line of text shown from `start_s` to `end_s` (seconds on the recording's timeline)."""

    start_s: float
    end_s: float
    text: str

    def __post_init__(self) -> None:
        if not 0 <= self.start_s <= self.end_s:
            raise ValueError(f"cue needs 0 <= start_s <= end_s, got {self.start_s}..{self.end_s}")


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _clean(text: str) -> str:
    # a blank line ends a cue in both formats; "-->" would read as a timing line
    return " ".join(text.split()).replace("-->", "->")


def to_srt(cues: Iterable[Cue]) -> str:
    blocks = [f"{i}\n{_stamp(c.start_s, ',')} --> {_stamp(c.end_s, ',')}\n{_clean(c.text)}\n"
              for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def to_vtt(cues: Iterable[Cue]) -> str:
    blocks = [f"{_stamp(c.start_s, '.')} --> {_stamp(c.end_s, '.')}\n{_clean(c.text)}\n" for c in cues]
    return "\n".join(["WEBVTT\n", *blocks])


def to_text(cues: Iterable[Cue]) -> str:
    return "".join(f"{_clean(c.text)}\n" for c in cues)

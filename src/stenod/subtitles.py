"""Subtitles from finals: one writer for SubRip (SRT), WebVTT and plain text with timestamps.

A cue is one final's text over the audio it was decoded from (``audio.start_ms`` to ``end_ms``, on
the stream's timeline: milliseconds since capture started). Finals with empty text (retractions)
make no cue. Cues come out in time order and never overlap: a cue that would run into the next one
is cut where the next starts, so players that refuse overlapping cues show every line.

With finals of more than one stream (a meeting: ``--source me=mic --source them=monitor``) every
cue names its stream: ``[them] text`` in SRT and text, a WebVTT voice span ``<v them>text``; cues
of one stream never overlap, but cues of two streams may (two people speaking at once), as both
formats allow.

Pure: no I/O, no clock. Used by ``stenod web``'s downloads and by ``stenod export``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from stenod.protocol import Final

Format = Literal["srt", "vtt", "txt"]
FORMATS: tuple[Format, ...] = ("srt", "vtt", "txt")
MEDIA_TYPES: dict[Format, str] = {"srt": "application/x-subrip", "vtt": "text/vtt", "txt": "text/plain"}

MIN_CUE_MS = 1
"""A cue lasts at least this long (an end before its start would be invalid)."""


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``text`` from ``start_ms`` to ``end_ms`` on the stream's timeline."""

    start_ms: int
    end_ms: int
    text: str
    speaker: str | None = None  # the stream's label, where there are several streams


def cues(finals: Iterable[Final]) -> list[Cue]:
    """Cues for ``finals`` (any order): sorted by start, empty texts dropped, overlaps within a
    stream cut, labelled by stream when there are several."""
    spoken = sorted((f for f in finals if f.text.strip()), key=lambda f: (f.audio.start_ms, f.stream, f.utt))
    several = len({f.stream for f in spoken}) > 1
    out: list[Cue] = []
    for i, f in enumerate(spoken):
        end = f.audio.end_ms
        following = next((g for g in spoken[i + 1:] if g.stream == f.stream), None)
        if following is not None:
            end = min(end, following.audio.start_ms)
        out.append(Cue(f.audio.start_ms, max(end, f.audio.start_ms + MIN_CUE_MS), " ".join(f.text.split()),
                       f.stream if several else None))
    return out


def _labelled(c: Cue) -> str:
    return f"[{c.speaker}] {c.text}" if c.speaker else c.text


def timestamp(ms: int, sep: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT) or with ``sep="."`` ``HH:MM:SS.mmm`` (WebVTT, text)."""
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def to_srt(items: Iterable[Cue]) -> str:
    """SubRip: numbered blocks ``N``, ``start --> end``, text, blank line."""
    blocks = [f"{n}\n{timestamp(c.start_ms)} --> {timestamp(c.end_ms)}\n{_labelled(c)}\n"
              for n, c in enumerate(items, 1)]
    return "\n".join(blocks)


def _vtt_text(text: str) -> str:
    # "-->" would end the cue text's line early in some parsers; & and < start markup.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(items: Iterable[Cue]) -> str:
    """WebVTT: the ``WEBVTT`` header, then ``start --> end`` and text per cue."""
    blocks = [f"{timestamp(c.start_ms, '.')} --> {timestamp(c.end_ms, '.')}\n"
              f"{f'<v {c.speaker}>' if c.speaker else ''}{_vtt_text(c.text)}\n"
              for c in items]
    return "\n".join(["WEBVTT\n", *blocks])


def to_text(items: Iterable[Cue]) -> str:
    """One line per cue: ``[HH:MM:SS.mmm] text`` (``[HH:MM:SS.mmm] [stream] text``)."""
    return "".join(f"[{timestamp(c.start_ms, '.')}] {_labelled(c)}\n" for c in items)


def render(finals: Iterable[Final], fmt: Format) -> str:
    """``finals`` as a whole document in format ``fmt``."""
    items = cues(finals)
    if fmt == "srt":
        return to_srt(items)
    if fmt == "vtt":
        return to_vtt(items)
    if fmt == "txt":
        return to_text(items)
    raise ValueError(f"unknown subtitle format {fmt!r} (known: {', '.join(FORMATS)})")


__all__ = ["Format", "FORMATS", "MEDIA_TYPES", "Cue", "cues", "timestamp", "to_srt", "to_vtt", "to_text", "render"]

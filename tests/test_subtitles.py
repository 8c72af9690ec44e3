"""The subtitle writer: SRT, WebVTT and text from finals, in order and without overlaps."""

from __future__ import annotations

import re

import pytest

from stenod.protocol import AudioSpan, Final
from stenod.subtitles import Cue, cues, render, timestamp, to_srt, to_text, to_vtt

SRT_BLOCK = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.+)\n")


def fin(utt: int, start: int, end: int, text: str) -> Final:
    return Final(utt=utt, rev=3, audio=AudioSpan(start, end), text=text, stable_len=len(text), model="m")


def parse_srt(text: str) -> list[tuple[int, int, int, str]]:
    """(number, start_ms, end_ms, text) per block; fails on anything that is not a block."""
    blocks = text.split("\n\n")
    out = []
    for block in blocks:
        m = SRT_BLOCK.fullmatch(block if block.endswith("\n") else block + "\n")
        assert m, f"not an SRT block: {block!r}"
        g = [int(x) for x in m.groups()[:9]]
        out.append((g[0], ((g[1] * 60 + g[2]) * 60 + g[3]) * 1000 + g[4],
                    ((g[5] * 60 + g[6]) * 60 + g[7]) * 1000 + g[8], m.group(10)))
    return out


def test_timestamp():
    assert timestamp(0) == "00:00:00,000"
    assert timestamp(3_723_004) == "01:02:03,004"
    assert timestamp(59_999, ".") == "00:00:59.999"


def test_cues_sorted_without_empty_texts_or_overlaps():
    finals = [fin(3, 9000, 11000, "third"), fin(1, 1000, 4200, "  first   words "), fin(2, 4000, 6000, ""),
              fin(4, 10500, 12000, "fourth")]
    assert cues(finals) == [Cue(1000, 4200, "first words"), Cue(9000, 10500, "third"), Cue(10500, 12000, "fourth")]


def test_srt_parses_with_ordered_timestamps():
    finals = [fin(i, i * 2000, i * 2000 + 1500, f"sentence number {i}.") for i in range(1, 6)]
    blocks = parse_srt(render(finals, "srt"))
    assert [b[0] for b in blocks] == [1, 2, 3, 4, 5]
    assert [b[3] for b in blocks] == [f"sentence number {i}." for i in range(1, 6)]
    for (_, start, end, _), nxt in zip(blocks, blocks[1:] + [None]):
        assert start < end
        assert nxt is None or end <= nxt[1]


def test_vtt_header_and_escaping():
    out = to_vtt([Cue(0, 1500, "a <b> & c --> d")])
    assert out.startswith("WEBVTT\n\n")
    assert "00:00:00.000 --> 00:00:01.500\na &lt;b&gt; &amp; c --&gt; d\n" in out


def test_text_lines():
    assert to_text([Cue(61_000, 62_000, "hello"), Cue(125_500, 126_000, "world")]) == (
        "[00:01:01.000] hello\n[00:02:05.500] world\n")


def test_empty_and_unknown_format():
    assert to_srt([]) == "" and to_vtt([]) == "WEBVTT\n"
    with pytest.raises(ValueError, match="unknown subtitle format 'doc'"):
        render([], "doc")  # type: ignore[arg-type]

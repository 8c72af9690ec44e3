"""The caption model: finals and the partial, fading, wrapping, notices, restarts."""

from __future__ import annotations

from stenod.clients.caption_lines import FADE_OUT_S, CaptionLines, Line, wrap
from stenod.protocol import AudioSpan, Final, Partial


def part(utt: int, rev: int, text: str) -> Partial:
    return Partial(utt=utt, rev=rev, audio=AudioSpan(0, 10), text=text, stable_len=0)


def fin(utt: int, text: str) -> Final:
    return Final(utt=utt, rev=9, audio=AudioSpan(0, 10), text=text, stable_len=len(text), model="m")


def texts(lines: list[Line]) -> list[tuple[str, str]]:
    return [(line.text, line.kind) for line in lines]


def test_wrap():
    assert wrap("the quick brown fox", 9, len) == ["the quick", "brown fox"]
    assert wrap("a abcdefghij b", 4, len) == ["a", "abcd", "efgh", "ij b"]
    assert wrap("   ", 10, len) == []


def test_partial_then_final_replaces_it():
    m = CaptionLines(3, fade_s=5)
    m.partial(part(1, 1, "hello"))
    m.partial(part(1, 3, "hello there"))
    m.partial(part(1, 2, "hello the"))  # older revision arriving late: ignored
    assert texts(m.lines(0)) == [("hello there", "partial")]
    m.final(fin(1, "Hello there."), now=0)
    m.partial(part(1, 4, "late partial of a closed utterance"))
    m.partial(part(2, 1, "and"))
    assert texts(m.lines(0)) == [("Hello there.", "final"), ("and", "partial")]


def test_only_the_last_lines_and_the_newest_words():
    m = CaptionLines(2, fade_s=5)
    for utt in range(1, 5):
        m.final(fin(utt, f"line {utt}"), now=0)
    assert texts(m.lines(0)) == [("line 3", "final"), ("line 4", "final")]
    m.partial(part(5, 1, "one two three four five six"))
    assert texts(m.lines(0, width=9)) == [("four five", "partial"), ("six", "partial")]


def test_old_lines_fade_then_go():
    m = CaptionLines(3, fade_s=5)
    m.final(fin(1, "old"), now=0)
    m.final(fin(2, "new"), now=4)
    assert [line.fade for line in m.lines(4)] == [0, 0]
    faded = m.lines(5 + FADE_OUT_S / 2)
    assert faded[0].fade == 0.5 and faded[1].fade == 0
    assert texts(m.lines(6 + FADE_OUT_S)) == [("new", "final")]
    assert m.animating()
    assert m.lines(100) == [] and not m.animating()


def test_notice_stays_visible_and_reset_forgets():
    m = CaptionLines(2, fade_s=5)
    m.final(fin(7, "before the restart"), now=0)
    m.partial(part(8, 1, "cut off"))
    m.notice = "stenod restarted"
    assert texts(m.lines(0)) == [("cut off", "partial"), ("stenod restarted", "notice")]
    m.reset()
    m.final(fin(1, "utterance one again"), now=1)  # numbers start again after a restart
    assert texts(m.lines(1)) == [("utterance one again", "final"), ("stenod restarted", "notice")]


def test_empty_final_retracts_the_partial():
    m = CaptionLines(3)
    m.partial(part(1, 1, "uh"))
    m.final(fin(1, ""), now=0)
    assert m.lines(0) == []


def test_stream_filter():
    from stenod.clients.captions import stream_matches

    assert stream_matches(b'{"type": "final"}', None) and stream_matches(b'{"stream": "a"}', None)
    assert stream_matches(b'{"type": "final"}', "a")  # unlabelled: the daemon's only stream
    assert stream_matches(b'{"stream": "a"}', "a") and not stream_matches(b'{"stream": "b"}', "a")

"""What a caption display shows, as a pure model: recent finals, the settling partial, a notice.

:class:`CaptionLines` takes transcript events and the time, and answers with the lines to draw:
the last finals (each fading out ``fade_s`` seconds after it arrived), the open utterance's newest
partial below them, and a notice ("waiting for stenod") while the daemon is away. Lines are wrapped
to the display's width by :func:`wrap`, given a function that measures text, and only the last
``max_lines`` visual lines are kept, so the newest words are always on screen.

No clock, no toolkit: the overlay feeds it ``time.monotonic()`` and a font's ``measure``; the tests
feed it numbers and ``len``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from stenod.protocol import Final, Partial

FADE_OUT_S = 1.0
"""How long a finished line takes to fade away once its time is up."""

Kind = Literal["final", "partial", "notice"]


@dataclass(frozen=True)
class Line:
    """One visual line: its text, what it shows, and how far it has faded (0 = fully visible)."""

    text: str
    kind: Kind
    fade: float = 0.0


@dataclass
class _Shown:
    utt: int
    text: str
    at: float


def wrap(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Break ``text`` at spaces into lines no wider than ``width`` (a word wider than that is
    broken between characters)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if measure(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        while measure(word) > width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and measure(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


class CaptionLines:
    """The caption state of one display; feed it events, ask it for :meth:`lines`."""

    def __init__(self, max_lines: int = 3, fade_s: float = 6.0) -> None:
        if max_lines < 1:
            raise ValueError(f"max_lines must be >= 1, got {max_lines}")
        self.max_lines, self.fade_s = max_lines, fade_s
        self._finals: list[_Shown] = []
        self._partial: Partial | None = None
        self._closed_utt = -1
        self.notice: str | None = None

    def partial(self, event: Partial) -> None:
        """A partial: shown if its utterance is still open and it is not older than the one shown."""
        if event.utt <= self._closed_utt:
            return
        if self._partial is not None and self._partial.utt == event.utt and event.rev < self._partial.rev:
            return
        self._partial = event

    def final(self, event: Final, now: float) -> None:
        """A final closes its utterance: it replaces the partial and stays ``fade_s`` seconds."""
        self._closed_utt = max(self._closed_utt, event.utt)
        if self._partial is not None and self._partial.utt <= event.utt:
            self._partial = None
        text = " ".join(event.text.split())
        if text:
            self._finals.append(_Shown(event.utt, text, now))
            del self._finals[:-self.max_lines]

    def reset(self) -> None:
        """The daemon restarted: utterance numbers start again, what was shown is gone."""
        self._finals.clear()
        self._partial = None
        self._closed_utt = -1

    def fade(self, shown_at: float, now: float) -> float:
        """0 while a final is fresh, rising to 1 over :data:`FADE_OUT_S` after ``fade_s``."""
        return min(1.0, max(0.0, (now - shown_at - self.fade_s) / FADE_OUT_S))

    def lines(self, now: float, width: float = float("inf"),
              measure: Callable[[str], float] = len) -> list[Line]:
        """The visual lines to draw now, oldest first, at most ``max_lines``."""
        self._finals = [f for f in self._finals if self.fade(f.at, now) < 1.0]
        out: list[Line] = []
        for f in self._finals:
            fade = self.fade(f.at, now)
            out.extend(Line(t, "final", fade) for t in wrap(f.text, width, measure))
        if self._partial is not None:
            out.extend(Line(t, "partial") for t in wrap(self._partial.text, width, measure))
        if self.notice:  # last, so it is never cut off
            out.extend(Line(t, "notice") for t in wrap(self.notice, width, measure))
        return out[-self.max_lines:]

    def animating(self) -> bool:
        """True while some final is on show: it will fade, so the display must keep redrawing."""
        return bool(self._finals)


__all__ = ["FADE_OUT_S", "Kind", "Line", "wrap", "CaptionLines"]

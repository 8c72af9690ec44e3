"""Terminal rendering of the transcript stream, for `stenod tail`.

On a terminal the live partial rewrites one line in place: the stable part in normal text, the
part that may still change dimmed, cut to the terminal's width (a rewritten line must never wrap,
or ``\\r`` would only go back to the start of its last row). Each final replaces that line and
stays on a line of its own. When stdout is not a terminal (a pipe, a file) nothing can be
rewritten, so only finals are written, one per line. With ``json_mode`` every event body is
written as received, one per line, flushed at once. With ``stream`` only that stream's transcripts
are shown; otherwise, once a second stream shows up (or the daemon's status lists several), each
line starts with its stream's label, ``[them] text``.

Notices (connected, restarted, resynced, not responding) go to stderr; while a partial line is
on screen it is cleared first and redrawn after, so the two never garble each other.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from typing import TextIO

from stenod.clients.subscriber import Back, Connected, Item, Received, Restarted, Resynced, Silent, Waiting
from stenod.protocol import STREAM_EVENTS, Final, Partial, StatusEvent

DIM, RESET = "\x1b[2m", "\x1b[0m"
CLEAR_LINE = "\r\x1b[K"
ELLIPSIS = "…"


def short_session(session: str | None) -> str:
    """The first 8 characters of a session id, enough to tell daemon runs apart."""
    return (session or "?")[:8]


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def fit_tail(text: str, stable_len: int, width: int) -> tuple[str, str]:
    """Cut ``text`` to at most ``width`` terminal columns, keeping its end (the newest words) and
    marking the cut with an ellipsis. Returns ``(stable, unstable)``: the kept text split where
    ``text[:stable_len]`` ends."""
    if width <= 0:
        return "", ""
    if sum(map(_char_width, text)) <= width:
        return text[:stable_len], text[stable_len:]
    budget, start = width - 1, len(text)
    while start > 0 and _char_width(text[start - 1]) <= budget:
        start -= 1
        budget -= _char_width(text[start])
    if start >= stable_len:
        return ELLIPSIS, text[start:]
    return ELLIPSIS + text[start:stable_len], text[stable_len:]


def _describe_status(status: object) -> str:
    if not isinstance(status, dict):
        return ""
    parts = [f"model {status['model']}"] if status.get("model") else []
    if status.get("state") and status["state"] != "ready":
        parts.append(str(status["state"]))
    return f" ({', '.join(parts)})" if parts else ""


class TerminalView:
    """Writes subscriber items to ``out`` (transcripts) and ``err`` (notices)."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, *, json_mode: bool = False,
                 color: bool | None = None, tty: bool | None = None, stream: str | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.json_mode = json_mode
        self.tty = self.out.isatty() if tty is None else tty
        if color is None:
            color = self.tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self.color = color
        self._line: Partial | None = None  # the partial on screen
        self._closed_utt: dict[str, int] = {}  # stream -> highest utterance finalised in this session
        self.stream = stream  # show only this stream (None: all)
        self._streams: set[str] = set()  # the streams seen (labels are shown once there are several)

    # ------------------------------------------------------------------------- items

    def handle(self, item: Item) -> None:
        """Render one item from :class:`~stenod.clients.subscriber.Subscriber`."""
        if isinstance(item, Received):
            if isinstance(item.event, STREAM_EVENTS):
                if self.stream is not None and item.event.stream != self.stream:
                    return
                self._streams.add(item.event.stream)
            if self.json_mode:
                self.out.write(item.raw.decode("utf-8") + "\n")
                self.out.flush()
            elif isinstance(item.event, Partial):
                self._partial(item.event)
            elif isinstance(item.event, Final):
                self._final(item.event, dim=item.origin == "history")
            elif isinstance(item.event, StatusEvent):
                self.notice(f"daemon is {item.event.state}")
        elif isinstance(item, Waiting):
            self.notice(f"waiting for the stenod daemon at {item.endpoint} …")
        elif isinstance(item, Connected):
            self._note_streams(item.status)
            self.notice(f"connected to stenod session {short_session(item.session)}{_describe_status(item.status)}")
        elif isinstance(item, Restarted):
            self._closed_utt = {}
            self._note_streams(item.status)
            self._clear()
            self.notice(f"daemon restarted: new session {short_session(item.session)}{_describe_status(item.status)}")
        elif isinstance(item, Resynced):
            self.notice("missed events, resynced")
        elif isinstance(item, Silent):
            self.notice(f"daemon not responding (nothing heard for {item.silent_s:g} s); still listening")
        elif isinstance(item, Back):
            self.notice("daemon is responding again")

    def _note_streams(self, status: object) -> None:
        """The daemon's status lists its streams (see docs/protocol.md)."""
        if isinstance(status, dict) and isinstance(status.get("streams"), list):
            self._streams.update(s["label"] for s in status["streams"] if isinstance(s, dict) and "label" in s)

    def _label(self, stream: str) -> str:
        return f"[{stream}] " if self.stream is None and len(self._streams) > 1 else ""

    def notice(self, text: str) -> None:
        """One line on stderr, without garbling a partial line on the same terminal."""
        shown = self._line
        if shown is not None:
            self.out.write(CLEAR_LINE)
            self.out.flush()
        self.err.write(f"stenod: {text}\n")
        self.err.flush()
        if shown is not None:
            self._draw(shown)

    def close(self) -> None:
        """End a partial line still on screen, so the shell prompt starts on a fresh line."""
        if self._line is not None:
            self._line = None
            self.out.write("\n")
            self.out.flush()

    # ------------------------------------------------------------------------- drawing

    def _partial(self, event: Partial) -> None:
        if not self.tty or event.utt <= self._closed_utt.get(event.stream, -1):
            return
        if self._line is not None and (self._line.stream, self._line.utt) == (event.stream, event.utt) \
                and event.rev < self._line.rev:
            return  # an older revision arriving late; the highest rev wins
        self._draw(event)

    def _draw(self, event: Partial) -> None:
        label = self._label(event.stream)
        stable, unstable = fit_tail(event.text.strip(), max(0, event.stable_len - self._lead(event.text)),
                                    self._width() - len(label))
        stable = label + stable
        if self.color and unstable:
            unstable = f"{DIM}{unstable}{RESET}"
        self.out.write(f"{CLEAR_LINE}{stable}{unstable}")
        self.out.flush()
        self._line = event

    def _final(self, event: Final, *, dim: bool) -> None:
        self._closed_utt[event.stream] = max(self._closed_utt.get(event.stream, -1), event.utt)
        text = event.text.strip()
        if text:
            text = self._label(event.stream) + text
        if self._line is not None:
            self.out.write(CLEAR_LINE)
            self._line = None
        if text:
            self.out.write(f"{DIM}{text}{RESET}\n" if dim and self.color else text + "\n")
        self.out.flush()

    def _clear(self) -> None:
        if self._line is not None:
            self.out.write(CLEAR_LINE)
            self.out.flush()
            self._line = None

    @staticmethod
    def _lead(text: str) -> int:
        """Characters that ``strip()`` removes at the front (the stable length shifts by them)."""
        return len(text) - len(text.lstrip())

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 80
        return max(10, columns - 1)  # never write into the last column: some terminals wrap there

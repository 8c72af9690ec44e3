"""Typing on X11 with ``xdotool``: XTEST key events.

A character missing from the keyboard map (é, —, emoji on a US layout) has no key to press. Left to
itself, ``xdotool type`` binds it to a spare keycode for one keystroke and unbinds it at once; a
busy receiving client reads the keyboard map after that and loses the character, and a Latin-1
capital bound as a lone keysym reads as its lower case (É arrives as é). Seen under Xvfb. So this
backend binds such characters itself, with ``xmodmap``, to unused keycodes (the same keysym on both
levels, so no Shift is involved) before typing, and leaves them bound: clients then read a stable
map. The bindings are reused, the oldest given up when the unused keycodes run out.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict

from stenod.clients.output.base import missing, run_tool, split_combo

KEY_DELAY_MS = 6
"""Pause between keystrokes."""

_EMPTY = re.compile(r"^keycode\s+(\d+)\s*=\s*$", re.MULTILINE)


def keysym_name(ch: str) -> str:
    """The keysym name Xlib reads as this character."""
    return f"U{ord(ch):04X}"


class XdotoolTyper:
    name = "xdotool"

    def __init__(self) -> None:
        self._spare: list[int] | None = None
        self._bound: OrderedDict[str, int] = OrderedDict()

    def unavailable(self) -> str | None:
        if not os.environ.get("DISPLAY"):
            return "xdotool needs an X11 display (DISPLAY is not set)"
        return missing("xdotool", "xmodmap")

    def _bind(self, text: str) -> None:
        wanted = [ch for ch in dict.fromkeys(text) if not ch.isascii() and ch.isprintable()]
        for ch in wanted:
            if ch in self._bound:
                self._bound.move_to_end(ch)
        new = [ch for ch in wanted if ch not in self._bound]
        if not new:
            return
        if self._spare is None:
            keymap = run_tool(["xmodmap", "-pke"]).stdout
            self._spare = sorted((int(k) for k in _EMPTY.findall(keymap)), reverse=True)
        expressions = []
        for ch in new:
            if self._spare:
                code = self._spare.pop()
            elif self._bound and next(iter(self._bound)) not in wanted:
                code = self._bound.popitem(last=False)[1]
            else:
                break  # more new characters than unused keycodes: xdotool maps the rest itself
            self._bound[ch] = code
            expressions += ["-e", f"keycode {code} = {keysym_name(ch)} {keysym_name(ch)}"]
        if expressions:
            run_tool(["xmodmap", *expressions])

    def type_text(self, text: str) -> None:
        if not text:
            return
        self._bind(text)
        run_tool(["xdotool", "type", "--clearmodifiers", "--delay", str(KEY_DELAY_MS), "--", text],
                 timeout=10 + len(text) * 0.05)

    def backspace(self, count: int) -> None:
        if count > 0:
            run_tool(["xdotool", "key", "--clearmodifiers", "--delay", str(KEY_DELAY_MS), "--",
                      *["BackSpace"] * count], timeout=10 + count * 0.05)

    def key(self, combo: str) -> None:
        mods, key = split_combo(combo)
        run_tool(["xdotool", "key", "--clearmodifiers", "--", "+".join([*mods, key])])

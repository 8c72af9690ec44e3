"""Typing on X11 with ``xdotool``: XTEST key events; characters missing from the keymap (é, —,
emoji) are mapped onto a spare keycode by xdotool itself, for the one keystroke.

Two things go wrong with such characters under a plain ``xdotool type``, both seen under Xvfb:
the receiving client looks the keycode up after xdotool already mapped it back (the character is
lost when the client is slow), and a capital from the Latin-1 range arrives in lower case (É as é:
a keycode carrying one keysym is read as its lower/upper pair, and xdotool presses no Shift). So
text is typed in runs: ASCII at full speed; other characters with a longer pause per key, each
capital among them as ``shift+U<code>``.
"""

from __future__ import annotations

import os
import time

from stenod.clients.output.base import missing, run_tool, split_combo

KEY_DELAY_MS = 6
"""Pause between keystrokes of characters in the keymap."""
REMAP_DELAY_MS = 40
"""Pause after each character that xdotool maps onto a spare keycode, before it maps the next."""


def runs(text: str) -> list[tuple[str, str]]:
    """``text`` cut into ``("type", ascii)``, ``("slow", other)`` and ``("capital", char)`` runs."""
    out: list[tuple[str, str]] = []
    for ch in text:
        kind = "type" if ch.isascii() else "capital" if ch.isupper() and ch.lower() != ch else "slow"
        if out and out[-1][0] == kind != "capital":
            out[-1] = (kind, out[-1][1] + ch)
        else:
            out.append((kind, ch))
    return out


class XdotoolTyper:
    name = "xdotool"

    def unavailable(self) -> str | None:
        if not os.environ.get("DISPLAY"):
            return "xdotool needs an X11 display (DISPLAY is not set)"
        return missing("xdotool")

    def type_text(self, text: str) -> None:
        for kind, run in runs(text):
            if kind == "capital":
                run_tool(["xdotool", "key", "--clearmodifiers", f"shift+U{ord(run):04X}"])
                time.sleep(REMAP_DELAY_MS / 1000)
            else:
                delay = KEY_DELAY_MS if kind == "type" else REMAP_DELAY_MS
                run_tool(["xdotool", "type", "--clearmodifiers", "--delay", str(delay), "--", run],
                         timeout=10 + len(run) * (delay + 20) / 1000)

    def backspace(self, count: int) -> None:
        if count > 0:
            run_tool(["xdotool", "key", "--clearmodifiers", "--delay", str(KEY_DELAY_MS), "--",
                      *["BackSpace"] * count], timeout=10 + count * 0.05)

    def key(self, combo: str) -> None:
        mods, key = split_combo(combo)
        run_tool(["xdotool", "key", "--clearmodifiers", "--", "+".join([*mods, key])])

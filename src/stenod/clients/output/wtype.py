"""Typing on Wayland with ``wtype`` (the virtual-keyboard protocol: wlroots compositors such as
sway and Hyprland, and KDE).

wtype uploads a keymap holding exactly the characters it is about to type, then sends the keys.
The compositor applies a new virtual keyboard's keymap asynchronously: a key sent at once can
reach the window before the keymap does and is lost (under sway about one call in four lost its
first character, "Hello" arriving as "ello"). A short sleep (``-s``) between the keymap upload and
the first key closes the race; every call here starts with one.
"""

from __future__ import annotations

import os

from stenod.clients.output.base import missing, run_tool, split_combo

SETTLE_MS = 40
"""Sleep after the keymap upload, before the first key (see the module docstring)."""

_MODS = {"ctrl": "ctrl", "shift": "shift", "alt": "alt", "super": "logo"}


class WtypeTyper:
    name = "wtype"

    def __init__(self, settle_ms: int = SETTLE_MS) -> None:
        self.settle_ms = settle_ms

    def unavailable(self) -> str | None:
        if not os.environ.get("WAYLAND_DISPLAY"):
            return "wtype needs a Wayland session (WAYLAND_DISPLAY is not set)"
        return missing("wtype")

    def _run(self, args: list[str], keys: int) -> None:
        settle = ["-s", str(self.settle_ms)] if self.settle_ms > 0 else []
        run_tool(["wtype", *settle, *args], timeout=10 + keys * 0.05)

    def type_text(self, text: str) -> None:
        if text:
            self._run(["--", text], len(text))

    def backspace(self, count: int) -> None:
        if count > 0:
            self._run([a for _ in range(count) for a in ("-k", "BackSpace")], count)

    def key(self, combo: str) -> None:
        mods, key = split_combo(combo)
        args = [a for m in mods for a in ("-M", _MODS[m])] + ["-k", key]
        args += [a for m in reversed(mods) for a in ("-m", _MODS[m])]
        self._run(args, len(mods) + 1)

"""Typing by pasting: save the clipboard, put the text on it, press the paste key, then put the
user's previous clipboard back.

It types any character the application can paste, whatever the keyboard layout, and needs only a
key sender (one of the keystroke typers) for the paste key and BackSpace. ``paste_key`` is a combo
such as ``ctrl+v``, or ``auto``: Ctrl+Shift+V for terminals (where Ctrl+V is a control character),
Ctrl+V elsewhere, from the focused window's application id when a focus probe can tell it.

The application fetches the text after the key press, asynchronously, so the previous clipboard is
put back only after :data:`RESTORE_DELAY_S`. A clipboard that held no text (an image, nothing) is
left empty afterwards: only text can be saved.
"""

from __future__ import annotations

import time

from stenod.clients.output.base import Clipboard, FocusProbe, Typer, split_combo

RESTORE_DELAY_S = 0.4

TERMINALS = frozenset({
    "foot", "footclient", "kitty", "alacritty", "org.wezfurlong.wezterm", "wezterm", "gnome-terminal",
    "gnome-terminal-server", "org.gnome.terminal", "org.gnome.console", "kgx", "konsole", "org.kde.konsole",
    "xfce4-terminal", "tilix", "com.gexperts.tilix", "terminator", "urxvt", "rxvt", "st", "st-256color",
    "xterm", "uxterm", "lxterminal", "sakura", "termite", "ghostty", "com.mitchellh.ghostty", "contour",
})  # fmt: skip
"""Application ids / window classes (lower case) that paste with Ctrl+Shift+V."""


def paste_key_for(app: str) -> str:
    """The paste key for a window of application ``app`` (``auto`` mode)."""
    return "ctrl+shift+v" if app.lower() in TERMINALS else "ctrl+v"


class PasteTyper:
    name = "paste"

    def __init__(self, clipboard: Clipboard, keys: Typer, *, paste_key: str = "auto",
                 focus: FocusProbe | None = None, restore_delay_s: float = RESTORE_DELAY_S) -> None:
        if paste_key != "auto":
            split_combo(paste_key)  # a ValueError now rather than at the first utterance
        self.clipboard, self.keys, self.paste_key, self.focus = clipboard, keys, paste_key, focus
        self.restore_delay_s = restore_delay_s

    def unavailable(self) -> str | None:
        if reason := self.clipboard.unavailable():
            return reason
        return self.keys.unavailable()

    def _key(self) -> str:
        if self.paste_key != "auto":
            return self.paste_key
        window = self.focus.current() if self.focus is not None else None
        return paste_key_for(window.app if window else "")

    def type_text(self, text: str) -> None:
        if not text:
            return
        previous = self.clipboard.read()
        self.clipboard.write(text)
        try:
            self.keys.key(self._key())
            time.sleep(self.restore_delay_s)
        finally:
            if previous is None:
                self.clipboard.clear()
            else:
                self.clipboard.write(previous)

    def backspace(self, count: int) -> None:
        self.keys.backspace(count)

    def key(self, combo: str) -> None:
        self.keys.key(combo)

"""Typing with ``ydotool``: a virtual input device through the kernel's uinput, so it works under
any compositor (GNOME included) and even on a text console.

ydotool 1.x sends everything through its daemon ``ydotoold`` (socket ``$YDOTOOL_SOCKET``, else
``$XDG_RUNTIME_DIR/.ydotool_socket`` or ``/tmp/.ydotool_socket``); the 0.1 series (Debian 12)
opens ``/dev/uinput`` itself and needs write access to it. A uinput keyboard speaks keycodes in the
compositor's layout, so characters outside it cannot be typed (the paste backend can).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from stenod.clients.output.base import missing, run_tool, split_combo

KEY_DELAY_MS = 6

# Linux input event codes (linux/input-event-codes.h) for the keys the 1.x ``key`` command needs.
_KEYCODES = {"ctrl": 29, "shift": 42, "alt": 56, "super": 125, "backspace": 14, "return": 28, "tab": 15,
             "insert": 110, "v": 47, "c": 46, "x": 45, "a": 30}


def daemon_socket() -> Path | None:
    """Where ydotoold listens, if a socket is there."""
    candidates = [os.environ.get("YDOTOOL_SOCKET", "")]
    if os.environ.get("XDG_RUNTIME_DIR"):
        candidates.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], ".ydotool_socket"))
    candidates.append("/tmp/.ydotool_socket")
    for candidate in filter(None, candidates):
        if Path(candidate).is_socket():
            return Path(candidate)
    return None


class YdotoolTyper:
    name = "ydotool"

    def __init__(self) -> None:
        self.daemon = shutil.which("ydotoold") is not None  # 1.x ships ydotoold; 0.1 does not need it

    def unavailable(self) -> str | None:
        if reason := missing("ydotool"):
            return reason
        if self.daemon:
            if daemon_socket() is None:
                return ("ydotool needs its daemon: start ydotoold (e.g. `systemctl --user start ydotool` "
                        "or `ydotoold &`)")
        elif not os.access("/dev/uinput", os.W_OK):
            return "ydotool needs write access to /dev/uinput (or ydotoold from ydotool 1.x)"
        return None

    def type_text(self, text: str) -> None:
        if text:
            run_tool(["ydotool", "type", "--key-delay" if self.daemon else "--delay", str(KEY_DELAY_MS), "--",
                      text], timeout=10 + len(text) * 0.05)

    def backspace(self, count: int) -> None:
        for _ in range(count):
            self.key("BackSpace")

    def key(self, combo: str) -> None:
        mods, key = split_combo(combo)
        if not self.daemon:  # 0.1 takes key names
            run_tool(["ydotool", "key", "+".join([*mods, key])])
            return
        codes = [_KEYCODES[m] for m in mods]
        try:
            codes.append(_KEYCODES[key.lower()])
        except KeyError:
            raise ValueError(f"ydotool backend: no keycode for {key!r}") from None
        run_tool(["ydotool", "key", *[f"{c}:1" for c in codes], *[f"{c}:0" for c in reversed(codes)]])

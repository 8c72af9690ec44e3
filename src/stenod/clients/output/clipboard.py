"""Clipboards: wl-clipboard (``wl-copy`` / ``wl-paste``) on Wayland, ``xclip`` or ``xsel`` on X11.

``wl-copy``, ``xclip`` and ``xsel`` leave a child behind that serves the text until something else
takes the clipboard: they are run with ``forks=True`` so that waiting ends with the parent.
"""

from __future__ import annotations

import os
import time

from stenod.clients.output.base import missing, run_tool

OWNERSHIP_WAIT_S = 1.0


class WlClipboard:
    name = "wl-clipboard"

    def unavailable(self) -> str | None:
        if not os.environ.get("WAYLAND_DISPLAY"):
            return "wl-clipboard needs a Wayland session (WAYLAND_DISPLAY is not set)"
        return missing("wl-copy", "wl-paste")

    def read(self) -> str | None:
        types = run_tool(["wl-paste", "--list-types"], check=False)
        if types.returncode != 0 or not any(t.startswith("text/") or t in ("UTF8_STRING", "STRING", "TEXT")
                                            for t in types.stdout.split()):
            return None
        done = run_tool(["wl-paste", "--no-newline", "--type", "text"], check=False)
        return done.stdout if done.returncode == 0 else None

    def write(self, text: str) -> None:
        run_tool(["wl-copy", "--type", "text/plain;charset=utf-8"], input=text, forks=True)

    def clear(self) -> None:
        run_tool(["wl-copy", "--clear"], forks=True)


class XclipClipboard:
    name = "xclip"

    def unavailable(self) -> str | None:
        if not os.environ.get("DISPLAY"):
            return "xclip needs an X11 display (DISPLAY is not set)"
        return missing("xclip")

    def read(self) -> str | None:
        done = run_tool(["xclip", "-selection", "clipboard", "-out", "-target", "UTF8_STRING"], check=False)
        return done.stdout if done.returncode == 0 else None

    def write(self, text: str) -> None:
        run_tool(["xclip", "-selection", "clipboard", "-in", "-target", "UTF8_STRING"], input=text, forks=True)

    def clear(self) -> None:
        self.write("")


class XselClipboard:
    name = "xsel"

    def unavailable(self) -> str | None:
        if not os.environ.get("DISPLAY"):
            return "xsel needs an X11 display (DISPLAY is not set)"
        return missing("xsel")

    def read(self) -> str | None:
        done = run_tool(["xsel", "--clipboard", "--output"], check=False)
        return done.stdout if done.returncode == 0 and done.stdout else None

    def write(self, text: str) -> None:
        run_tool(["xsel", "--clipboard", "--input"], input=text, forks=True)
        deadline = time.monotonic() + OWNERSHIP_WAIT_S
        while self.read() != (text or None) and time.monotonic() < deadline:
            time.sleep(0.02)  # xsel's parent can exit before its child owns the selection

    def clear(self) -> None:
        run_tool(["xsel", "--clipboard", "--clear"], forks=True)

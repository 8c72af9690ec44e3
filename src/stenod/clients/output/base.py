"""The contracts of the output layer and what every backend shares.

Three kinds of backend, one :class:`~typing.Protocol` each:

* :class:`Typer` puts text into the focused window as keystrokes (xdotool, wtype, ydotool) or by
  pasting (paste);
* :class:`Clipboard` reads and writes the clipboard (xclip, xsel, wl-clipboard);
* :class:`FocusProbe` names the focused window (X11, sway, Hyprland), for the focus-drift guard.

Every backend says with ``unavailable()`` why it cannot work here (None when it can), naming what to
install or start; at run time a failing call raises :class:`OutputError`. Tools always run as argument
lists with a timeout, never through a shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

TOOL_TIMEOUT_S = 10.0


class OutputError(RuntimeError):
    """A backend failed at run time (the message names the tool and what it said)."""


class NoBackend(OutputError):
    """No backend of a kind works here; the message says what to install."""


@dataclass(frozen=True)
class Desktop:
    """What kind of graphical session the client runs in, from its environment."""

    kind: Literal["wayland", "x11", "none"]
    compositor: Literal["sway", "hyprland", "other"]

    @classmethod
    def detect(cls, env: Mapping[str, str] | None = None) -> Desktop:
        """Wayland when ``WAYLAND_DISPLAY`` is set (or ``XDG_SESSION_TYPE=wayland``; an X11
        ``DISPLAY`` beside it is XWayland), else X11 when ``DISPLAY`` is set, else none."""
        env = os.environ if env is None else env
        session = env.get("XDG_SESSION_TYPE", "")
        if env.get("WAYLAND_DISPLAY") or (session == "wayland" and not env.get("DISPLAY")):
            kind: Literal["wayland", "x11", "none"] = "wayland"
        elif env.get("DISPLAY"):
            kind = "x11"
        else:
            kind = "none"
        if env.get("SWAYSOCK"):
            compositor: Literal["sway", "hyprland", "other"] = "sway"
        elif env.get("HYPRLAND_INSTANCE_SIGNATURE"):
            compositor = "hyprland"
        else:
            compositor = "other"
        return cls(kind, compositor)


@dataclass(frozen=True)
class Window:
    """A focused window: ``id`` as the desktop names it, ``app`` its application id or class
    (may be empty)."""

    id: str
    app: str = ""


class Typer(Protocol):
    """Puts text into the focused window."""

    name: str

    def unavailable(self) -> str | None:
        """Why this backend cannot work here (what to install or start), or None."""

    def type_text(self, text: str) -> None:
        """Type ``text`` exactly (newlines as Return); raises :class:`OutputError`."""

    def backspace(self, count: int) -> None:
        """Press BackSpace ``count`` times."""

    def key(self, combo: str) -> None:
        """Press a key combination such as ``ctrl+shift+v``."""


class Clipboard(Protocol):
    """The desktop's clipboard (the CLIPBOARD selection on X11)."""

    name: str

    def unavailable(self) -> str | None:
        """Why this backend cannot work here, or None."""

    def read(self) -> str | None:
        """The clipboard's text, or None when it is empty or holds no text."""

    def write(self, text: str) -> None:
        """Put ``text`` on the clipboard."""

    def clear(self) -> None:
        """Empty the clipboard."""


class FocusProbe(Protocol):
    """Names the focused window."""

    name: str

    def unavailable(self) -> str | None:
        """Why this probe cannot work here, or None."""

    def current(self) -> Window | None:
        """The focused window, or None when it cannot be told."""


def missing(*programs: str) -> str | None:
    """``"X is not installed"`` for the first program not on PATH, or None when all are there."""
    for program in programs:
        if shutil.which(program) is None:
            return f"{program} is not installed"
    return None


MODIFIERS = ("ctrl", "shift", "alt", "super")


def split_combo(combo: str) -> tuple[list[str], str]:
    """``"ctrl+shift+v"`` -> ``(["ctrl", "shift"], "v")``; ValueError for an unknown modifier."""
    parts = [p.strip() for p in combo.split("+")]
    if not parts[-1] or any(not p for p in parts):
        raise ValueError(f"bad key combination {combo!r} (expected e.g. ctrl+v or ctrl+shift+v)")
    mods = [p.lower() for p in parts[:-1]]
    for mod in mods:
        if mod not in MODIFIERS:
            raise ValueError(f"unknown modifier {mod!r} in {combo!r} (known: {', '.join(MODIFIERS)})")
    return mods, parts[-1]


def run_tool(argv: Sequence[str], *, input: str | None = None, timeout: float = TOOL_TIMEOUT_S,
             forks: bool = False, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a tool (no shell) and return its completed process; :class:`OutputError` when it is
    missing, times out or (with ``check``) exits non-zero.

    ``forks``: the tool leaves a child behind that keeps serving (xclip, wl-copy): its stdout is
    not captured and stderr goes to a file, so that waiting does not last as long as the child."""
    argv = list(argv)
    try:
        if forks:
            with tempfile.TemporaryFile() as err:
                proc = subprocess.run(argv, input=(input or "").encode("utf-8"), stdout=subprocess.DEVNULL,
                                      stderr=err, timeout=timeout)
                err.seek(0)
                stderr = err.read().decode("utf-8", "replace")
            done = subprocess.CompletedProcess(argv, proc.returncode, "", stderr)
        else:
            done = subprocess.run(argv, input=input, capture_output=True, text=True, encoding="utf-8",
                                  errors="replace", timeout=timeout)
    except FileNotFoundError:
        raise OutputError(f"{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise OutputError(f"{argv[0]} did not finish within {timeout:g} s") from None
    if check and done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise OutputError(f"{argv[0]} failed (exit {done.returncode}){': ' + said[-1] if said else ''}")
    return done


__all__ = ["TOOL_TIMEOUT_S", "OutputError", "NoBackend", "Desktop", "Window", "Typer", "Clipboard",
           "FocusProbe", "MODIFIERS", "split_combo", "missing", "run_tool"]

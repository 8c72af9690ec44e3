"""The clients' sections: ``[dictation]``, ``[captions]`` and ``[web]``."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from stenod.config.check import _check_positive, _check_types

_COLOUR_NAME = re.compile(r"^(#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|[A-Za-z][A-Za-z0-9 ]*)$")


def _check_colour(name: str, value: str) -> None:
    if not _COLOUR_NAME.match(value):
        raise ValueError(f"{name}: expected a colour such as '#ffd700' or 'white', got {value!r}")


@dataclass(frozen=True)
class CaptionsConfig:
    """The caption overlay of ``stenod captions``."""

    font: str = "DejaVu Sans"
    size: int = 28
    """Font size in points."""
    position: Literal["bottom", "top", "center"] = "bottom"
    """Where on the screen, horizontally centred; dragging moves it from there."""
    margin: int = 48
    """Distance from the screen edge in pixels (for ``bottom`` and ``top``)."""
    width: float = 0.8
    """Width as a fraction of the screen width."""
    lines: int = 3
    """Text lines shown (finals above, the partial below)."""
    colour: str = "#ffffff"
    """Colour of finished text."""
    partial_colour: str = "#9a9a9a"
    """Colour of the partial that may still change."""
    background: str = "#101010"
    opacity: float = 0.85
    """Window opacity, 0.1..1 (needs a compositing window manager)."""
    fade_s: float = 6.0
    """Seconds a finished line stays before it fades out."""
    raise_ms: int = 500
    """How often the window is raised again (not every window manager honours "on top")."""
    stream: str | None = None
    """Show only this stream's events (events without a stream label are always shown)."""

    def __post_init__(self) -> None:
        _check_types(self)
        if not self.font.strip():
            raise ValueError("font: must not be empty")
        if not 6 <= self.size <= 200:
            raise ValueError(f"size: must be in 6..200, got {self.size}")
        if not 0 <= self.margin <= 2000:
            raise ValueError(f"margin: must be in 0..2000, got {self.margin}")
        if not 0.1 <= self.width <= 1.0:
            raise ValueError(f"width: must be in 0.1..1.0, got {self.width}")
        if not 1 <= self.lines <= 10:
            raise ValueError(f"lines: must be in 1..10, got {self.lines}")
        for name in ("colour", "partial_colour", "background"):
            _check_colour(name, getattr(self, name))
        if not 0.1 <= self.opacity <= 1.0:
            raise ValueError(f"opacity: must be in 0.1..1.0, got {self.opacity}")
        _check_positive("fade_s", self.fade_s)
        if not 50 <= self.raise_ms <= 60000:
            raise ValueError(f"raise_ms: must be in 50..60000, got {self.raise_ms}")
        if self.stream is not None and not self.stream.strip():
            raise ValueError("stream: must not be empty (leave it out for all streams)")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → ``(host, port)``; raises ValueError."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8765, got {value!r}")
    return host, int(port)


@dataclass(frozen=True)
class WebConfig:
    """The caption web server of ``stenod web``."""

    listen: str = "127.0.0.1:8765"
    """``HOST:PORT``; any host but 127.0.0.1, ::1 or localhost needs the access token."""
    token_file: str | None = None
    """Where the access token is kept (default ``$XDG_CONFIG_HOME/stenod/web-token``)."""

    def __post_init__(self) -> None:
        _check_types(self)
        try:
            parse_listen(self.listen)
        except ValueError as exc:
            raise ValueError(f"listen: {exc}") from None
        if self.token_file is not None and not self.token_file.strip():
            raise ValueError("token_file: must not be empty (leave it out for the default)")


@dataclass(frozen=True)
class DictationConfig:
    """The dictation gate (what typing and clipboard clients act on) and spoken commands."""

    start: Literal["on", "off"] = "on"
    """Whether dictation is on when the daemon starts (``stenod toggle`` / ``ptt`` change it)."""
    commands: dict[str, str] = field(default_factory=dict)
    """Spoken commands for `stenod type`, added to (or overriding) the built-in table: the spoken
    phrase -> what to type instead (an empty string removes a built-in phrase). How the text joins
    its neighbours follows from it: closing marks attach to the word before, opening marks to the
    word after, whitespace ends the line; see :mod:`stenod.clients.spoken`."""
    backend: Literal["auto", "xdotool", "wtype", "ydotool", "paste"] = "auto"
    """How `stenod type` types: ``auto`` picks by session type, with a fallback chain."""
    paste_key: str = "auto"
    """The paste backend's key, e.g. ``ctrl+v``; ``auto``: Ctrl+Shift+V in terminals, else Ctrl+V."""
    end: str = " "
    """What `stenod type` types after each utterance (none after a spoken line break)."""

    def __post_init__(self) -> None:
        _check_types(self)
        for phrase in self.commands:
            if not phrase.strip():
                raise ValueError("commands: a spoken phrase must not be empty")
        if not self.paste_key.strip() or any(not p.strip() for p in self.paste_key.split("+")):
            raise ValueError(f"paste_key: expected a key combination such as ctrl+v, got {self.paste_key!r}")

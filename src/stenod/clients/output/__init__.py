"""Output backends for the typing and clipboard clients: typers (xdotool, wtype, ydotool, paste),
clipboards (xclip, xsel, wl-clipboard) and focus probes (X11, sway, Hyprland), each behind one small
interface (:mod:`.base`), chosen at start by session type with a fallback chain (:mod:`.chain`)."""

from stenod.clients.output.base import Clipboard, Desktop, FocusProbe, NoBackend, OutputError, Typer, Window
from stenod.clients.output.chain import (
    TYPER_NAMES, FallbackTyper, choose_clipboard, choose_focus, choose_typer,
)  # fmt: skip

__all__ = ["Clipboard", "Desktop", "FocusProbe", "NoBackend", "OutputError", "Typer", "Window", "TYPER_NAMES",
           "FallbackTyper", "choose_clipboard", "choose_focus", "choose_typer"]

"""Choosing backends at start, by session type, and falling back down the chain at run time.

Typers, best first: X11 ``xdotool`` then ``paste``; Wayland ``wtype`` (wlroots, KDE), ``ydotool``
(any compositor, needs its daemon) then ``paste``; without a display only ``ydotool``. Clipboards:
wl-clipboard on Wayland, xclip then xsel on X11. Focus: sway or Hyprland IPC, the X11 focus, else
none (the guard is off).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stenod.clients.output.base import Clipboard, Desktop, FocusProbe, NoBackend, OutputError, Typer
from stenod.clients.output.clipboard import WlClipboard, XclipClipboard, XselClipboard
from stenod.clients.output.focus import HyprlandFocus, NoFocus, SwayFocus, X11Focus
from stenod.clients.output.paste import PasteTyper
from stenod.clients.output.wtype import WtypeTyper
from stenod.clients.output.xdotool import XdotoolTyper
from stenod.clients.output.ydotool import YdotoolTyper

TYPER_NAMES = ("auto", "xdotool", "wtype", "ydotool", "paste")

INSTALL = {
    "wayland": "install wtype (sway, Hyprland, KDE) or ydotool with ydotoold running (any compositor, GNOME "
               "included), and wl-clipboard for the paste backend",
    "x11": "install xdotool and xmodmap (x11-xserver-utils), and xclip or xsel for the clipboard",
    "none": "no graphical session (neither WAYLAND_DISPLAY nor DISPLAY is set); ydotool with ydotoold "
            "running types on a console",
}
CLIPBOARD_INSTALL = {"wayland": "install wl-clipboard", "x11": "install xclip or xsel",
                     "none": "no graphical session (neither WAYLAND_DISPLAY nor DISPLAY is set)"}


def clipboard_chain(desktop: Desktop) -> list[Clipboard]:
    if desktop.kind == "wayland":
        return [WlClipboard()]
    if desktop.kind == "x11":
        return [XclipClipboard(), XselClipboard()]
    return []


def choose_clipboard(desktop: Desktop) -> Clipboard:
    """The first clipboard that works here; :class:`NoBackend` naming what to install."""
    chain = clipboard_chain(desktop)
    for clipboard in chain:
        if clipboard.unavailable() is None:
            return clipboard
    reasons = "; ".join(f"{c.unavailable()}" for c in chain)
    raise NoBackend(f"no clipboard works here{' (' + reasons + ')' if reasons else ''}: "
                    f"{CLIPBOARD_INSTALL[desktop.kind]}")


def choose_focus(desktop: Desktop) -> FocusProbe:
    """The focus probe for this desktop (:class:`NoFocus` where none can tell)."""
    candidates: list[FocusProbe] = []
    if desktop.compositor == "sway":
        candidates.append(SwayFocus())
    if desktop.compositor == "hyprland":
        candidates.append(HyprlandFocus())
    if desktop.kind == "x11":
        candidates.append(X11Focus())
    for probe in candidates:
        if probe.unavailable() is None:
            return probe
    return NoFocus()


def typer_chain(desktop: Desktop, *, paste_key: str = "auto", focus: FocusProbe | None = None) -> list[Typer]:
    """Every typer for this desktop, best first (available or not)."""
    if desktop.kind == "x11":
        keys: list[Typer] = [XdotoolTyper()]
    elif desktop.kind == "wayland":
        keys = [WtypeTyper(), YdotoolTyper()]
    else:
        return [YdotoolTyper()]
    sender = next((k for k in keys if k.unavailable() is None), keys[0])
    chain: list[Typer] = [*keys]
    for clipboard in clipboard_chain(desktop):
        chain.append(PasteTyper(clipboard, sender, paste_key=paste_key, focus=focus))
    return chain


def choose_typer(desktop: Desktop, *, backend: str = "auto", paste_key: str = "auto",
                 focus: FocusProbe | None = None, say: Callable[[str], None] = print) -> FallbackTyper:
    """The typers that work here, best first (only ``backend`` when it is not ``auto``), wrapped in
    a :class:`FallbackTyper`; :class:`NoBackend` when none works, naming what to install."""
    if backend not in TYPER_NAMES:
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join(TYPER_NAMES)})")
    chain = typer_chain(desktop, paste_key=paste_key, focus=focus)
    if backend != "auto":
        chain = [t for t in chain if t.name == backend]
        if not chain:
            raise NoBackend(f"the {backend} backend does not work in a {desktop.kind} session: "
                            f"{INSTALL[desktop.kind]}")
    usable = [t for t in chain if t.unavailable() is None]
    if not usable:
        reasons = "; ".join(str(t.unavailable()) for t in chain)
        raise NoBackend(f"no way to type here ({reasons}): {INSTALL[desktop.kind]}")
    return FallbackTyper(usable, say)


class FallbackTyper:
    """A :class:`Typer` over a chain: a backend that fails is left for the next one, said once."""

    def __init__(self, chain: Sequence[Typer], say: Callable[[str], None]) -> None:
        if not chain:
            raise ValueError("empty typer chain")
        self.chain, self.say = list(chain), say
        self.failures: list[str] = []

    @property
    def name(self) -> str:
        return self.chain[0].name

    def unavailable(self) -> str | None:
        return None

    def _do(self, action: Callable[[Typer], None]) -> None:
        while True:
            try:
                action(self.chain[0])
                return
            except OutputError as exc:
                self.failures.append(f"{self.chain[0].name}: {exc}")
                if len(self.chain) == 1:  # kept: the next call tries it again (its daemon may be back)
                    raise NoBackend("every typing backend failed (" + "; ".join(self.failures) + ")") from None
                failed = self.chain.pop(0)
                self.say(f"{failed.name} failed ({exc}); using {self.chain[0].name} from now on")

    def type_text(self, text: str) -> None:
        self._do(lambda t: t.type_text(text))

    def backspace(self, count: int) -> None:
        self._do(lambda t: t.backspace(count))

    def key(self, combo: str) -> None:
        self._do(lambda t: t.key(combo))

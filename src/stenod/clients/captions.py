"""The caption overlay window of ``stenod captions`` (Tk: X11, and Wayland through XWayland).

A borderless window, bottom-centre by default, kept above other windows: it asks to be topmost and
raises itself again every ``raise_ms`` milliseconds, since not every window manager honours
topmost (and without one, as under a bare X server, nothing else would keep it on top). It draws
what :class:`~stenod.clients.caption_lines.CaptionLines` says: finished lines in full colour,
fading into the background after ``fade_s``, the settling partial dimmed below them, and a notice
while the daemon is away.

Tk is single-threaded and so are ZeroMQ sockets: a ``root.after`` timer polls the
:class:`~stenod.clients.subscriber.Subscriber` without blocking, in Tk's own thread. Drag with the
left button to move the window; the right button opens a menu to hide it (until the next caption)
or quit.
"""

from __future__ import annotations

import json
import signal
import time
import tkinter as tk
import tkinter.font as tkfont

from stenod.clients.caption_lines import CaptionLines, Line
from stenod.clients.subscriber import Back, Connected, Item, Received, Restarted, Silent, Subscriber, Waiting
from stenod.config import CaptionsConfig
from stenod.protocol import Final, Partial, StatusEvent

TICK_MS = 50
NOTICE_S = 4.0
"""How long a passing notice (such as "stenod restarted") stays."""
WINDOW_CLASS = "StenodCaptions"


def stream_matches(raw: bytes, stream: str | None) -> bool:
    """Whether an event body belongs to ``stream``: always without a filter or without a label."""
    if stream is None:
        return True
    label = json.loads(raw).get("stream")
    return label is None or label == stream


class CaptionOverlay:
    """The overlay on ``root``, fed by ``subscriber`` until :meth:`stop` (or the menu's Quit)."""

    def __init__(self, root: tk.Tk, subscriber: Subscriber, cfg: CaptionsConfig) -> None:
        self.root, self.sub, self.cfg = root, subscriber, cfg
        self.model = CaptionLines(cfg.lines, cfg.fade_s)
        self.model.notice = "connecting to stenod…"
        self._notice_until: float | None = None
        self._stopping = False
        self._hidden = False
        self._next_raise = 0.0
        self._drag: tuple[int, int] = (0, 0)

        root.title("stenod captions")
        root.overrideredirect(True)
        root.attributes("-topmost", True)
        root.attributes("-alpha", cfg.opacity)  # only where a compositor blends windows
        self.font = tkfont.Font(root, family=cfg.font, size=cfg.size)
        self.linespace = self.font.metrics("linespace")
        self.pad = max(6, self.linespace // 4)
        screen_w, screen_h = root.winfo_screenwidth(), root.winfo_screenheight()
        self.width = int(screen_w * cfg.width)
        self.height = cfg.lines * self.linespace + 2 * self.pad
        x = (screen_w - self.width) // 2
        y = {"bottom": screen_h - self.height - cfg.margin, "top": cfg.margin,
             "center": (screen_h - self.height) // 2}[cfg.position]
        root.geometry(f"{self.width}x{self.height}+{x}+{max(0, y)}")
        root.configure(background=cfg.background)
        self.canvas = tk.Canvas(root, width=self.width, height=self.height, background=cfg.background,
                                highlightthickness=0, borderwidth=0)
        self.canvas.pack(fill="both", expand=True)
        self.menu = tk.Menu(root, tearoff=False)
        self.menu.add_command(label="Hide until the next caption", command=self.hide)
        self.menu.add_command(label="Quit", command=self.stop)
        self.canvas.bind("<ButtonPress-1>", self._press)
        self.canvas.bind("<B1-Motion>", self._motion)
        self.canvas.bind("<ButtonPress-3>", lambda e: self.menu.tk_popup(e.x_root, e.y_root))
        self._background_rgb = root.winfo_rgb(cfg.background)
        self._draw(time.monotonic())
        root.after(0, self._tick)

    # ---------------------------------------------------------------------------- control

    def stop(self) -> None:
        """Close the window at the next tick (safe from a signal handler)."""
        self._stopping = True

    def hide(self) -> None:
        """Withdraw the window until the next final arrives."""
        self._hidden = True
        self.root.withdraw()

    def install_signal_handlers(self) -> None:
        """Ctrl-C and SIGTERM close the window cleanly."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: self.stop())

    # ---------------------------------------------------------------------------- events

    def _tick(self) -> None:
        if self._stopping:
            self.root.destroy()
            return
        now = time.monotonic()
        changed = False
        for item in self.sub.poll(0):
            changed |= self.handle(item, now)
        if self._notice_until is not None and now >= self._notice_until:
            self.model.notice, self._notice_until = None, None
            changed = True
        if changed or self.model.animating():
            self._draw(now)
        if now >= self._next_raise:
            self._next_raise = now + self.cfg.raise_ms / 1000
            if not self._hidden and not self.menu.winfo_ismapped():  # never over its own menu
                self.root.attributes("-topmost", True)
                self.root.lift()
        self.root.after(TICK_MS, self._tick)

    def _say(self, text: str | None, *, passing: bool = False) -> None:
        self.model.notice = text
        self._notice_until = time.monotonic() + NOTICE_S if passing and text else None

    def handle(self, item: Item, now: float) -> bool:
        """Apply one subscriber item; True if the display changed."""
        if isinstance(item, Received):
            event = item.event
            if not isinstance(event, (Partial, Final, StatusEvent)) or not stream_matches(item.raw, self.cfg.stream):
                return False
            if isinstance(event, Partial):
                self.model.partial(event)
            elif isinstance(event, Final):
                self.model.final(event, now)
                if self._hidden and event.text.strip():
                    self._hidden = False
                    self.root.deiconify()
            elif event.state in ("paused", "stopped", "error"):
                self._say(f"stenod is {event.state}")
            else:
                self._say(None)
        elif isinstance(item, Waiting):
            self._say("waiting for stenod…")
        elif isinstance(item, (Connected, Back)):
            self._say(None)
        elif isinstance(item, Restarted):
            self.model.reset()
            self._say("stenod restarted", passing=True)
        elif isinstance(item, Silent):
            self._say("waiting for stenod (not responding)…")
        else:
            return False
        return True

    # ---------------------------------------------------------------------------- drawing

    def _colour(self, line: Line) -> str:
        base = self.cfg.colour if line.kind == "final" else self.cfg.partial_colour
        if line.fade <= 0:
            return base
        fg, bg = self.root.winfo_rgb(base), self._background_rgb
        mixed = (round((f + (b - f) * line.fade) / 257) for f, b in zip(fg, bg))
        return "#%02x%02x%02x" % tuple(mixed)

    def _draw(self, now: float) -> None:
        self.canvas.delete("all")
        lines = self.model.lines(now, self.width - 2 * self.pad, self.font.measure)
        y = self.height - self.pad - len(lines) * self.linespace  # bottom-aligned: newest at the bottom
        for line in lines:
            self.canvas.create_text(self.width // 2, y, text=line.text, font=self.font, fill=self._colour(line),
                                    anchor="n", justify="center")
            y += self.linespace

    def _press(self, event: tk.Event) -> None:
        self._drag = (event.x, event.y)

    def _motion(self, event: tk.Event) -> None:
        x = self.root.winfo_x() + event.x - self._drag[0]
        y = self.root.winfo_y() + event.y - self._drag[1]
        self.root.geometry(f"+{x}+{y}")


def run_overlay(subscriber: Subscriber, cfg: CaptionsConfig) -> None:
    """Open the overlay and run Tk's loop until it is closed; raises tk.TclError without a display."""
    root = tk.Tk(className=WINDOW_CLASS)
    overlay = CaptionOverlay(root, subscriber, cfg)
    overlay.install_signal_handlers()
    root.mainloop()


__all__ = ["CaptionOverlay", "run_overlay", "stream_matches", "WINDOW_CLASS"]

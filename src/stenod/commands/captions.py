"""`stenod captions`: live captions in an always-on-top overlay window."""

from __future__ import annotations

import os

from stenod.commands.options import add_config_options, load_with_flags

FLAGS = {"font": "captions.font", "size": "captions.size", "position": "captions.position",
         "margin": "captions.margin", "width": "captions.width", "lines": "captions.lines",
         "colour": "captions.colour", "partial_colour": "captions.partial_colour",
         "background": "captions.background", "opacity": "captions.opacity", "fade_s": "captions.fade_s",
         "stream": "captions.stream"}

EXAMPLES = """examples:
  stenod captions                                   bottom-centre, three lines
  stenod captions --size 40 --lines 2 --position top --colour '#ffd700'
  stenod captions --set captions.opacity=0.6        any [captions] key

Drag the window to move it; right-click to hide it (until the next caption) or quit."""


def register(sub) -> None:
    import argparse

    p = sub.add_parser(
        "captions", help="show live captions in an overlay window (X11 / XWayland)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="A borderless caption window that stays on top of other windows: finished lines in "
                    "full, the part still being recognised dimmed, old lines fading. Defaults come from "
                    "the [captions] section of the config file; options override it. Waits for the "
                    "daemon when it is not running and follows it across restarts; Ctrl-C to stop.")
    add_config_options(p)
    g = p.add_argument_group("appearance (default: [captions] in the config file)")
    g.add_argument("--font", help="font family (default DejaVu Sans)")
    g.add_argument("--size", type=int, help="font size in points (default 28)")
    g.add_argument("--position", choices=("bottom", "top", "center"), help="where on the screen (default bottom)")
    g.add_argument("--margin", type=int, help="pixels from the screen edge (default 48)")
    g.add_argument("--width", type=float, help="fraction of the screen width (default 0.8)")
    g.add_argument("--lines", type=int, help="text lines shown (default 3)")
    g.add_argument("--colour", "--color", dest="colour", help="colour of finished text (default #ffffff)")
    g.add_argument("--partial-colour", "--partial-color", dest="partial_colour",
                   help="colour of text still being recognised (default #9a9a9a)")
    g.add_argument("--background", help="background colour (default #101010)")
    g.add_argument("--opacity", type=float, help="window opacity 0.1-1 (needs a compositor; default 0.85)")
    g.add_argument("--fade-s", type=float, help="seconds a finished line stays before fading (default 6)")
    p.add_argument("--stream", help="show only this stream's events (events without a stream label always show)")
    p.set_defaults(func=run)


def run(args) -> int:
    from stenod.cli import UserError

    cfg, events, control = load_with_flags(args, FLAGS)
    if not os.environ.get("DISPLAY"):
        raise UserError("no X display: DISPLAY is not set (the overlay needs X11, or XWayland on Wayland)")
    try:
        import tkinter
    except ImportError:
        raise UserError("tkinter is missing: install your Python's Tk bindings (Debian: python3-tk)") from None
    from stenod.clients.captions import run_overlay
    from stenod.clients.subscriber import Subscriber

    try:
        subscriber = Subscriber(events, control, history=0, timeout=1.0)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        run_overlay(subscriber, cfg.captions)
    except tkinter.TclError as exc:
        raise UserError(f"cannot open the caption window on display {os.environ['DISPLAY']}: {exc}") from None
    finally:
        subscriber.close()
    return 0

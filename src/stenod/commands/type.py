"""`stenod type`: type dictated finals into the focused window (or those of the last N seconds)."""

from __future__ import annotations

import argparse
import re

from stenod.commands._output import add_common, say, setup, unescape

EPILOG = """examples:
  stenod type                        type each utterance into the focused window, then a space
  stenod type --live                 type words as they settle, correct them at the end of speech
  stenod type --last 30s             type what was said in the last 30 seconds, then exit
  stenod type --backend paste --paste-key ctrl+shift+v
"""


def duration(value: str) -> float:
    """``30``, ``30s``, ``2m``, ``1h`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", value)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration such as 30s or 2m, got {value!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def register(sub) -> None:
    from stenod.clients.output.chain import TYPER_NAMES

    p = sub.add_parser(
        "type", help="type dictated text into the focused window",
        description="Type each utterance spoken while dictation is on into the focused window, with "
                    "spoken punctuation and commands applied (\"new line\", \"comma\", \"scratch that\", "
                    "...). If the focus moved to another window while you spoke, the text goes on the "
                    "clipboard instead. Waits for the daemon and follows its restarts; Ctrl-C to stop.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p)
    p.add_argument("--backend", choices=TYPER_NAMES, help="how to type (default: [dictation] backend, auto: "
                   "xdotool on X11; wtype, ydotool, then paste on Wayland)")
    p.add_argument("--paste-key", metavar="KEYS", help="the paste backend's key, e.g. ctrl+v or ctrl+shift+v "
                   "(default: [dictation] paste_key, auto: Ctrl+Shift+V in terminals, else Ctrl+V)")
    p.add_argument("--end", metavar="TEXT", help="typed after each utterance (default: [dictation] end, a "
                   "space; \\n for a new line)")
    p.add_argument("--live", action="store_true", help="type words as they settle and correct them with "
                   "BackSpace when the final differs")
    p.add_argument("--last", type=duration, metavar="DURATION",
                   help="type the utterances of the last DURATION (e.g. 30s, 2m) and exit")
    p.add_argument("--no-commands", action="store_true", help="type the words as recognised, no spoken commands")
    p.set_defaults(func=run)


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.clients.output import NoBackend, choose_clipboard, choose_focus, choose_typer
    from stenod.clients.spoken import SpokenCommands
    from stenod.clients.typist import TypeClient

    cfg, events, control, desktop = setup(args)
    notice = say("type")
    focus = choose_focus(desktop)
    try:
        typer = choose_typer(desktop, backend=args.backend or cfg.dictation.backend,
                             paste_key=args.paste_key or cfg.dictation.paste_key, focus=focus, say=notice)
        commands = None if args.no_commands else SpokenCommands(cfg.dictation.commands)
    except (NoBackend, ValueError) as exc:
        raise UserError(str(exc)) from None
    try:
        clipboard = choose_clipboard(desktop)
    except NoBackend as exc:
        clipboard = None
        notice(f"{exc}; the focus guard cannot hand text over")
    end = unescape(args.end) if args.end is not None else cfg.dictation.end
    if args.last is not None:
        return _type_last(args, control, typer, commands, end)
    if focus.name == "none":
        notice("this desktop does not tell which window has the focus: the focus guard is off")
    client = TypeClient(events, control, typer=typer, clipboard=clipboard, focus=focus, commands=commands,
                        end=end, live=args.live, always=args.always)
    return client.run()


def _type_last(args, control, typer, commands, end) -> int:
    from stenod.cli import UserError
    from stenod.clients.control import DaemonError, DaemonUnavailable, request
    from stenod.clients.output import OutputError
    from stenod.clients.spoken import Rendering
    from stenod.clients.typist import recent_finals

    try:
        snapshot = request(control, "snapshot")
    except (DaemonUnavailable, DaemonError, ValueError) as exc:
        raise UserError(str(exc)) from None
    text = ""
    for final in recent_finals(snapshot, args.last, always=args.always):
        rendering = commands.render(final.text) if commands is not None else Rendering(final.text)
        piece = rendering.text
        if rendering.scratch:  # scratching within what --last types: drop earlier pieces
            text = ""
        if piece and not piece[-1].isspace():
            piece += end
        text += piece
    if not text:
        say("type")(f"nothing was dictated in the last {args.last:g} s")
        return 1
    try:
        typer.type_text(text)
    except OutputError as exc:
        raise UserError(f"could not type: {exc}") from None
    return 0

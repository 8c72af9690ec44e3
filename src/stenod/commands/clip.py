"""`stenod clip`: copy each dictated final to the clipboard."""

from __future__ import annotations

import argparse

from stenod.commands._output import add_common, setup, unescape

EPILOG = """examples:
  stenod clip                 the clipboard holds the last utterance
  stenod clip --append        the clipboard holds everything said since stenod clip started
"""


def register(sub) -> None:
    p = sub.add_parser(
        "clip", help="copy dictated text to the clipboard",
        description="Put each utterance spoken while dictation is on on the clipboard (wl-copy on "
                    "Wayland, xclip or xsel on X11). Waits for the daemon and follows its restarts; "
                    "Ctrl-C to stop.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p)
    p.add_argument("--append", action="store_true", help="keep the text of this run on the clipboard, each "
                   "utterance added to the end (kept across daemon restarts, empty at start)")
    p.add_argument("--separator", default=" ", metavar="TEXT",
                   help="between appended utterances (default a space; \\n for a new line)")
    p.set_defaults(func=run)


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.clients.clip import ClipClient
    from stenod.clients.output import NoBackend, choose_clipboard

    _, events, control, desktop = setup(args)
    try:
        clipboard = choose_clipboard(desktop)
    except NoBackend as exc:
        raise UserError(str(exc)) from None
    client = ClipClient(events, control, clipboard=clipboard, append=args.append,
                        separator=unescape(args.separator), always=args.always)
    return client.run()

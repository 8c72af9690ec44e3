"""`stenod export`: subtitles of one daemon session from the journal."""

from __future__ import annotations

import argparse
import json
import sys

from stenod.commands.history import add_journal_options, journal_bodies


def register(sub) -> None:
    p = sub.add_parser(
        "export", help="write subtitles (SRT, WebVTT or text) of a session from the journal",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write the finals of one daemon session as subtitles, timed on the session's audio "
                    "timeline (seconds since capture started). The session defaults to the latest one.",
        epilog="examples:\n  stenod export --srt > talk.srt\n  stenod export --vtt --session 3f2a -o talk.vtt")
    fmt = p.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--srt", dest="format", action="store_const", const="srt", help="SubRip")
    fmt.add_argument("--vtt", dest="format", action="store_const", const="vtt", help="WebVTT")
    fmt.add_argument("--txt", dest="format", action="store_const", const="txt",
                     help="plain text, one line a final: [HH:MM:SS.mmm] text")
    p.add_argument("--session", metavar="ID", help="session id, or a unique prefix of it (default: the latest)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    add_journal_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.protocol import TOPIC_FINAL, ProtocolError, decode
    from stenod.subtitles import render

    bodies = journal_bodies(args)
    sessions = list(dict.fromkeys(b.get("session") for b in bodies))
    if not sessions:
        raise UserError("the journal holds no finals yet")
    if args.session is None:
        session = sessions[-1]
    else:
        matches = [s for s in sessions if isinstance(s, str) and s.startswith(args.session)]
        if len(matches) != 1:
            raise UserError(f"session {args.session!r} {'is ambiguous' if matches else 'is not in the journal'}; "
                            f"sessions: {', '.join(str(s)[:8] for s in sessions[-10:])}")
        session = matches[0]
    finals = []
    for b in bodies:
        if b.get("session") != session:
            continue
        try:
            finals.append(decode([TOPIC_FINAL.encode(), json.dumps(b).encode("utf-8")]))
        except ProtocolError:
            continue  # a damaged entry: the rest still makes subtitles
    text = render(finals, args.format)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0

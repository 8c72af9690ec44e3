"""The `stenod` command: one entry point with subcommands.

Each subcommand lives in `stenod.commands.<name>` with `register(subparsers)` (adds its parser and
sets `func`) and does its heavy imports (torch, transformers) only when it runs, so `stenod --help`
and the clients start fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from stenod import __version__

COMMANDS = ("run", "transcribe", "models", "tail", "control", "devices", "demo", "bench", "type", "clip", "captions",
            "web", "client", "history", "export", "service", "keys", "serve")


class UserError(Exception):
    """An error caused by the user's input or environment: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stenod",
        description="Real-time streaming dictation with Whisper: speak, and text appears for every "
                    "subscriber on a ZeroMQ bus.",
        epilog="Run 'stenod COMMAND --help' for the options of one command.")
    parser.add_argument("--version", action="version", version=f"stenod {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"stenod.commands.{name}").register(sub)
    return parser


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="stenod: %(message)s", stream=sys.stderr)
    for noisy in ("transformers", "huggingface_hub", "urllib3", "filelock", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def quiet_libraries() -> None:
    """Keep transformers' progress bars and advice out of the user's terminal."""
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    quiet_libraries()
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"stenod: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

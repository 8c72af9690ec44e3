"""The clipboard client behind `stenod clip`: each final onto the clipboard.

With ``append`` the clipboard holds the running text of this run of the client, finals joined by
``separator``: it survives daemon restarts and ends with the client (a new run starts empty).
The raw text of finals is copied (no spoken commands: those are for typing).
"""

from __future__ import annotations

import sys

from stenod.clients.base import Client
from stenod.clients.output import Clipboard, OutputError
from stenod.clients.subscriber import Connected, Notice
from stenod.protocol import Final


class ClipClient(Client):
    name = "clip"
    gated = True

    def __init__(self, events: str, control: str, *, clipboard: Clipboard, append: bool = False,
                 separator: str = " ", always: bool = False) -> None:
        super().__init__(events, control, always=always)
        self.clipboard, self.append, self.separator = clipboard, append, separator
        self.buffer = ""

    def on_notice(self, notice: Notice) -> None:
        if isinstance(notice, Connected):
            print(f"stenod {self.name}: connected; copying with {self.clipboard.name}", file=sys.stderr, flush=True)
        super().on_notice(notice)

    def on_final(self, event: Final, origin: str = "live") -> None:
        if not event.text:
            return
        if self.append:
            text = f"{self.buffer}{self.separator}{event.text}" if self.buffer else event.text
        else:
            text = event.text
        try:
            self.clipboard.write(text)
        except OutputError as exc:
            print(f"stenod {self.name}: could not set the clipboard: {exc}", file=sys.stderr, flush=True)
            return
        self.buffer = text

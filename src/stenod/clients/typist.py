"""The typing client behind `stenod type`: each final dictated into the focused window.

Per utterance it remembers the focused window when the utterance began (its ``speech.start``, else
its first partial) and, with ``live``, what it has typed of it so far. At the final it types the
spoken-command rendering of the text followed by ``end`` (none after a line break), unless the
focus moved to another window meanwhile: then the text goes on the clipboard instead (the focus
guard, where the desktop can tell the focused window).

``live`` types the stable prefix of each partial as it settles, and corrects it at the final with
BackSpace; only characters this client typed for the current utterance are ever deleted, and only
into the window it typed them in ("scratch that" deletes whole earlier utterances the same way).
"""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from stenod.clients.base import Client
from stenod.clients.output import Clipboard, FocusProbe, OutputError, Typer, Window
from stenod.clients.spoken import Rendering, SpokenCommands
from stenod.clients.subscriber import Connected, Notice, Received, Restarted
from stenod.protocol import TOPIC_FINAL, Final, Partial, ProtocolError, SpeechStart, decode

SCRATCH_MEMORY = 50
"""How many typed utterances "scratch that" can reach back to."""


@dataclass
class _Utterance:
    session: str
    utt: int
    window: Window | None
    typed: str = ""
    drifted: bool = False


@dataclass(frozen=True)
class _Typed:
    length: int
    window: Window | None


def common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class TypeClient(Client):
    name = "type"
    gated = True

    def __init__(self, events: str, control: str, *, typer: Typer, clipboard: Clipboard | None,
                 focus: FocusProbe, commands: SpokenCommands | None, end: str = " ", live: bool = False,
                 always: bool = False) -> None:
        super().__init__(events, control, always=always)
        self.typer, self.clipboard, self.focus = typer, clipboard, focus
        self.commands, self.end, self.live = commands, end, live
        self._current: _Utterance | None = None
        self._typed: deque[_Typed] = deque(maxlen=SCRATCH_MEMORY)

    # ------------------------------------------------------------------ events

    def say(self, message: str) -> None:
        print(f"stenod {self.name}: {message}", file=sys.stderr, flush=True)

    def on_event(self, received: Received) -> None:
        event = received.event
        if isinstance(event, SpeechStart):
            self._begin(event.session, event.utt)
        super().on_event(received)

    def on_notice(self, notice: Notice) -> None:
        if isinstance(notice, Restarted):
            self._current = None
        if isinstance(notice, Connected):
            self.say(f"connected; typing with {self.typer.name}, focus guard "
                     f"{'off' if self.focus.name == 'none' else 'via ' + self.focus.name}")
        super().on_notice(notice)

    def on_partial(self, event: Partial) -> None:
        utterance = self._utterance(event.session, event.utt, begin=True)
        if not self.live or utterance.drifted:
            return
        if self._moved(utterance) is not None:
            utterance.drifted = True
            self.say("the focus moved to another window: the rest of this utterance goes on the clipboard")
            return
        wanted = self.render(event.text[:event.stable_len]).text
        self._safely(lambda: self._reconcile(utterance, wanted))

    def on_final(self, event: Final, origin: str = "live") -> None:
        utterance = self._utterance(event.session, event.utt, begin=False)
        if utterance is self._current:
            self._current = None
        rendering = self.render(event.text)
        text = rendering.text
        if text and not text[-1].isspace():
            text += self.end
        if utterance.drifted or self._moved(utterance) is not None:
            self._to_clipboard(rendering.text, "the focus moved to another window since the utterance began")
            return
        self._safely(lambda: self._apply(utterance, rendering, text), fallback=rendering.text)

    # ------------------------------------------------------------------ helpers

    def render(self, text: str) -> Rendering:
        return self.commands.render(text) if self.commands is not None else Rendering(text)

    def _begin(self, session: str, utt: int) -> _Utterance:
        self._current = _Utterance(session, utt, self._window())
        return self._current

    def _utterance(self, session: str, utt: int, *, begin: bool) -> _Utterance:
        current = self._current
        if current is not None and current.session == session and current.utt == utt:
            return current
        if begin:
            return self._begin(session, utt)
        return _Utterance(session, utt, None)  # a final whose start was not seen: no guard

    def _window(self) -> Window | None:
        try:
            return self.focus.current()
        except OutputError as exc:
            self.say(f"cannot tell the focused window: {exc}")
            return None

    def _moved(self, utterance: _Utterance) -> Window | None:
        """The window that has the focus now, if it is not the one the utterance began in."""
        if utterance.window is None:
            return None
        now = self._window()
        return now if now is not None and now.id != utterance.window.id else None

    def _reconcile(self, utterance: _Utterance, wanted: str) -> None:
        keep = common_prefix(utterance.typed, wanted)
        if len(utterance.typed) > keep:
            self.typer.backspace(len(utterance.typed) - keep)
            utterance.typed = utterance.typed[:keep]
        if len(wanted) > keep:
            self.typer.type_text(wanted[keep:])
            utterance.typed = wanted

    def _apply(self, utterance: _Utterance, rendering: Rendering, text: str) -> None:
        if rendering.scratch:
            self._reconcile(utterance, "")
            window = self._window()
            for _ in range(rendering.scratch):
                if not self._typed:
                    break
                last = self._typed[-1]
                if last.window is not None and window is not None and last.window.id != window.id:
                    self.say("scratch that: the last utterance was typed into another window; nothing deleted")
                    break
                self.typer.backspace(self._typed.pop().length)
        self._reconcile(utterance, text)
        if text:
            self._typed.append(_Typed(len(text), utterance.window or self._window()))

    def _safely(self, action: Callable[[], None], fallback: str | None = None) -> None:
        """Run a typing action; on failure say so (or, with ``fallback``, put that on the clipboard)."""
        try:
            action()
        except OutputError as exc:
            if fallback is None:
                self.say(f"could not type: {exc}")
            else:
                self._to_clipboard(fallback, f"could not type ({exc})")

    def _to_clipboard(self, text: str, why: str) -> None:
        if not text:
            return
        if self.clipboard is None:
            self.say(f"{why}; not typed, and no clipboard to put it on: {text!r}")
            return
        try:
            self.clipboard.write(text)
        except OutputError as exc:
            self.say(f"{why}; not typed, and the clipboard failed ({exc}): {text!r}")
            return
        self.say(f"{why}: not typed, the text is on the clipboard")


def recent_finals(snapshot: dict[str, Any], seconds: float, *, always: bool = False,
                  now: datetime | None = None) -> list[Final]:
    """The finals of a ``snapshot`` reply published in the last ``seconds`` (by their ``t_wall``),
    oldest first; only dictated ones unless ``always``. Malformed entries are skipped."""
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(seconds=seconds)
    chosen = []
    for body in snapshot.get("finals") or []:
        try:
            final = decode([TOPIC_FINAL.encode(), json.dumps(body).encode("utf-8")])
            published = datetime.fromisoformat(final.t_wall.replace("Z", "+00:00"))
        except (ProtocolError, ValueError, TypeError):
            continue
        if isinstance(final, Final) and published >= since and final.text and (always or final.dictation):
            chosen.append(final)
    return sorted(chosen, key=lambda f: f.seq)

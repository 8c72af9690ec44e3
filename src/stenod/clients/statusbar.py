"""`stenod status --follow [--waybar]`: the daemon's state as one line per change, for people or
for status bars (Waybar, polybar, i3blocks custom modules).

:class:`BarState` is what a bar shows; :func:`bar_state` derives it from what the follower knows
(pure). :class:`StatusFollower` is a :class:`~stenod.clients.base.Client` that keeps that
knowledge up to date from status events, speech boundaries and connection notices, and prints a
line whenever the derived state changes: a JSON object ``{"text", "alt", "tooltip", "class"}``
with ``--waybar`` (Waybar's ``return-type: json``), else ``HH:MM:SS`` and the tooltip.

Classes: ``listening`` (ready, dictation on), ``speaking`` (an utterance is being spoken while
dictation is on), ``dictation-off``, ``paused``, ``loading`` (the model is loading), ``error`` and
``absent`` (no daemon answering: not started, stopped, or restarting).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TextIO

from stenod.clients.base import Client
from stenod.clients.subscriber import Back, Connected, Notice, Received, Restarted, Silent, Waiting
from stenod.protocol import SpeechEnd, SpeechStart, StatusEvent

CLASSES = ("listening", "speaking", "dictation-off", "paused", "loading", "error", "absent")


@dataclass(frozen=True)
class BarState:
    """What a status bar shows: ``cls`` is one of :data:`CLASSES` (a CSS class in Waybar)."""

    cls: str
    text: str
    tooltip: str

    def to_json(self) -> str:
        """One line of Waybar's ``return-type: json`` (``alt`` selects a ``format-icons`` entry)."""
        return json.dumps({"text": self.text, "alt": self.cls, "tooltip": self.tooltip, "class": self.cls},
                          ensure_ascii=False)

    def to_line(self, now: float | None = None) -> str:
        """One line for a person: the local time and the tooltip."""
        return f"{time.strftime('%H:%M:%S', time.localtime(now))} {self.tooltip.removeprefix('stenod: ')}"


@dataclass(frozen=True)
class Known:
    """What the follower knows about the daemon; ``state`` None means no daemon answers."""

    state: str | None = None
    dictation: str = "on"
    speaking: bool = False
    model: str | None = None
    error: str | None = None
    endpoint: str = ""


def bar_state(k: Known) -> BarState:
    """The bar's state for what is known (pure)."""
    model = f" — {k.model}" if k.model else ""
    if k.state is None:
        return BarState("absent", "no daemon", f"stenod: no daemon answering at {k.endpoint} "
                                                "(start it with `stenod run`)")
    if k.state == "error":
        return BarState("error", "error", f"stenod: error: {k.error or 'see the daemon log'}")
    if k.state == "stopped":
        return BarState("absent", "stopped", "stenod: the daemon stopped")
    if k.state in ("loading", "starting"):
        return BarState("loading", "loading", "stenod: loading the model")
    if k.state == "paused":
        return BarState("paused", "paused", f"stenod: paused, audio is discarded (`stenod resume`){model}")
    if k.state != "ready":
        return BarState("error", k.state, f"stenod: unexpected daemon state {k.state!r}")
    if k.dictation == "off":
        hearing = ", hearing speech" if k.speaking else ""
        return BarState("dictation-off", "dictation off", f"stenod: listening, dictation off{hearing} "
                                                          f"(`stenod toggle`){model}")
    if k.speaking:
        return BarState("speaking", "speaking", f"stenod: speech in progress, dictation on{model}")
    return BarState("listening", "listening", f"stenod: listening, dictation on{model}")


def _dictation(value: Any, default: str) -> str:
    return value if value in ("on", "off") else default


class StatusFollower(Client):
    """Prints the bar state at start and after every change; see the module docstring."""

    name = "status"

    def __init__(self, events: str, control: str, *, waybar: bool = False, out: TextIO | None = None) -> None:
        super().__init__(events, control, history=0)
        self.waybar = waybar
        self.out = out or sys.stdout
        self.known = Known(endpoint=control)
        self._shown: BarState | None = None

    def on_event(self, received: Received) -> None:
        event, k = received.event, self.known
        if isinstance(event, SpeechStart):
            self.known = replace(k, speaking=True)
        elif isinstance(event, SpeechEnd):
            self.known = replace(k, speaking=False)
        elif isinstance(event, StatusEvent):
            detail = event.detail
            self.known = replace(k, state=event.state, dictation=_dictation(detail.get("dictation"), k.dictation),
                                  model=_str(detail.get("model"), k.model), error=_str(detail.get("error"), None),
                                  speaking=k.speaking and event.state == "ready")
        elif k.state is None:  # any event means a daemon is there; its status reply will say more
            self.known = replace(k, state="ready")
        self.show()

    def on_notice(self, notice: Notice) -> None:
        if isinstance(notice, (Waiting, Silent)):
            self.known = replace(self.known, state=None, speaking=False)
        elif isinstance(notice, (Connected, Restarted)):
            self.known = self._from_status(notice.status)
        elif isinstance(notice, Back) and self.known.state is None:
            self.known = self._from_status(self.subscriber.status)
        self.show()

    def _from_status(self, status: Mapping[str, Any] | None) -> Known:
        status = status or {}
        state = status.get("state")
        return Known(state=state if isinstance(state, str) else "ready",
                     dictation=_dictation(status.get("dictation"), "on"),  # daemons before the gate: on
                     model=_str(status.get("model"), None), endpoint=self.known.endpoint)

    def show(self) -> None:
        """Print the bar state if it changed since the last line."""
        state = bar_state(self.known)
        if state == self._shown:
            return
        self._shown = state
        self.out.write((state.to_json() if self.waybar else state.to_line()) + "\n")
        self.out.flush()


def _str(value: Any, default: str | None) -> str | None:
    return value if isinstance(value, str) and value else default


def follow(events: str | None, control: str | None, *, waybar: bool) -> int:
    """Run :class:`StatusFollower` until Ctrl-C or SIGTERM (the `stenod status --follow` command)."""
    from stenod.cli import UserError
    from stenod.clients.control import resolve_client_endpoints

    try:
        events, control = resolve_client_endpoints(events, control)
        follower = StatusFollower(events, control, waybar=waybar)
    except ValueError as exc:  # a bad endpoint or config file
        raise UserError(str(exc)) from None
    try:
        return follower.run()
    except BrokenPipeError:  # the bar went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


__all__ = ["CLASSES", "BarState", "Known", "bar_state", "StatusFollower", "follow"]

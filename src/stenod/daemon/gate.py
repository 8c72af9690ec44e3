"""The dictation gate: whether what is said now is meant for typing and clipboard clients.

:class:`DictationGate` owns the on/off state. It is written only by the control handler (the
publisher thread, through :meth:`DictationGate.command`) and read by the VAD thread; a lock makes
each read and write whole. Besides the state it counts how often dictation was turned on, so a
reader can ask "was it on at any moment since I last looked?" (:meth:`DictationGate.on_since`)
without polling: a push-to-talk press and release between two looks is not missed. Status events
that report the state are queued under the same lock (:meth:`DictationGate.report`, the
``announce`` of :meth:`DictationGate.command`), so they leave in the order of the changes even
when another thread (the worker, at model load) sends one at the same moment.

:class:`UtteranceGate` applies the rule to the segmenter's events, in the VAD thread, which
sees them as the audio arrives (the inference worker may run seconds behind). An utterance counts
as dictation when dictation was on at any moment from the detection of its start (onset) to its
tentative end (the first ``early_ms`` of silence after its last voiced frame; without a tentative
end, its end). Speech resuming after a tentative end reopens the window. When an utterance
becomes dictation, an :class:`UttDictation` message goes to the worker ahead of the event that
revealed it, so every partial and the final published afterwards carry ``dictation: true``.

Pure apart from the lock: no I/O, unit-tested with synthetic events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stenod.daemon.segment import SegEvent, UttEnd, UttResumed, UttStart, UttTentativeEnd

State = Literal["on", "off"]
DICTATION_STATES = ("on", "off", "toggle")
PTT_ACTIONS = ("start", "stop")


class GateError(ValueError):
    """A dictation or ptt request with a missing or unknown argument; the text says which."""


@dataclass(frozen=True)
class Mark:
    """What a reader saw at one moment: the state and how many times dictation had been turned on."""

    on: bool
    turn_ons: int


@dataclass(frozen=True)
class Change:
    """The result of a command: the state afterwards and whether it changed."""

    state: State
    changed: bool


class DictationGate:
    """Thread-safe dictation on/off state with push-to-talk; see the module docstring.

    Push-to-talk: ``ptt start`` turns dictation on and remembers the state before the press;
    ``ptt stop`` puts that state back (off in a push-to-talk setup, still on for someone who
    dictates all the time and used the key anyway). A ``ptt stop`` with no press held does
    nothing; a ``dictation`` command while a press is held ends the press (the release then
    leaves the new state alone).
    """

    def __init__(self, on: bool) -> None:
        self._lock = threading.Lock()
        self._on = on
        self._turn_ons = 0
        self._before_press: bool | None = None  # the state before a held push-to-talk press

    @property
    def state(self) -> State:
        with self._lock:
            return "on" if self._on else "off"

    def mark(self) -> Mark:
        with self._lock:
            return Mark(self._on, self._turn_ons)

    def on_since(self, mark: Mark) -> bool:
        """True when dictation was on at any moment since ``mark`` was taken."""
        with self._lock:
            return mark.on or self._turn_ons != mark.turn_ons

    def report(self, send: Callable[[State], None]) -> None:
        """Call ``send(state)`` with the lock held: events that report the state are then queued
        in the order of the changes, whichever thread sends them (keep ``send`` quick)."""
        with self._lock:
            send("on" if self._on else "off")

    def command(self, request: Mapping[str, Any], announce: Callable[[State], None] | None = None) -> Change:
        """Apply a control request ``{"cmd": "dictation", "state": ...}`` or
        ``{"cmd": "ptt", "action": ...}``; raises :class:`GateError` for a bad argument.
        ``announce(state)`` is called after a change, with the lock still held (see :meth:`report`)."""
        with self._lock:
            change = self._apply(request)
            if change.changed and announce is not None:
                announce(change.state)
            return change

    def _apply(self, request: Mapping[str, Any]) -> Change:
        cmd = request.get("cmd")
        if cmd == "dictation":
            state = request.get("state")
            if state not in DICTATION_STATES:
                raise GateError(f'dictation needs "state": one of {", ".join(DICTATION_STATES)}; got {state!r}')
            self._before_press = None
            return self._write(not self._on if state == "toggle" else state == "on")
        if cmd == "ptt":
            action = request.get("action")
            if action not in PTT_ACTIONS:
                raise GateError(f'ptt needs "action": one of {", ".join(PTT_ACTIONS)}; got {action!r}')
            if action == "start":
                if self._before_press is None:
                    self._before_press = self._on
                return self._write(True)
            before, self._before_press = self._before_press, None
            return self._write(self._on if before is None else before)
        raise GateError(f"not a dictation command: {cmd!r}")

    def _write(self, on: bool) -> Change:
        """The one place the state changes (the caller holds the lock)."""
        changed = on != self._on
        if changed and on:
            self._turn_ons += 1
        self._on = on
        return Change("on" if on else "off", changed)


@dataclass(frozen=True)
class UttDictation:
    """Utterance ``utt`` counts as dictation: its partials and final carry ``dictation: true``."""

    utt: int


class UtteranceGate:
    """Decides, event by event in the VAD thread, which utterances count as dictation."""

    def __init__(self, gate: DictationGate) -> None:
        self.gate = gate
        self._utt: int | None = None
        self._mark = Mark(False, 0)
        self._dictated = False
        self._closed = False  # after a tentative end: the window is shut unless speech resumes

    def route(self, ev: SegEvent) -> list[SegEvent | UttDictation]:
        """``ev`` with an :class:`UttDictation` inserted where the utterance became dictation
        (after an :class:`UttStart`, before any other event)."""
        if isinstance(ev, UttStart):
            self._utt, self._mark, self._dictated, self._closed = ev.utt, self.gate.mark(), False, False
            return [ev, *self._check()]
        if ev.utt != self._utt:
            return [ev]
        if isinstance(ev, UttResumed):
            self._closed = False
        before = [] if self._closed else self._check()
        if isinstance(ev, UttTentativeEnd):
            self._closed = True
        elif isinstance(ev, UttEnd):
            self._utt = None
        return [*before, ev]

    def _check(self) -> list[UttDictation]:
        if self._dictated or self._utt is None or not self.gate.on_since(self._mark):
            return []
        self._dictated = True
        return [UttDictation(self._utt)]


__all__ = ["State", "DICTATION_STATES", "PTT_ACTIONS", "GateError", "Mark", "Change", "DictationGate",
           "UttDictation", "UtteranceGate"]

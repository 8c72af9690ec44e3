"""The dictation gate and the rule that decides which utterances count as dictation (pure)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from stenod.daemon.gate import DictationGate, GateError, UttDictation, UtteranceGate
from stenod.daemon.segment import UttAudio, UttEnd, UttResumed, UttStart, UttTentativeEnd


def dictation(gate: DictationGate, state: str):
    return gate.command({"cmd": "dictation", "state": state})


def ptt(gate: DictationGate, action: str):
    return gate.command({"cmd": "ptt", "action": action})


def audio(utt: int) -> UttAudio:
    return UttAudio(utt, 0, np.zeros(160, np.int16))


def test_commands_and_replies():
    gate = DictationGate(on=True)
    assert gate.state == "on"
    c = dictation(gate, "on")
    assert (c.state, c.changed) == ("on", False)
    c = dictation(gate, "off")
    assert (c.state, c.changed, gate.state) == ("off", True, "off")
    assert dictation(gate, "toggle").state == "on"
    assert dictation(gate, "toggle").state == "off"


@pytest.mark.parametrize("request_, word", [
    ({"cmd": "dictation"}, "state"), ({"cmd": "dictation", "state": "maybe"}, "maybe"),
    ({"cmd": "dictation", "state": 1}, "state"), ({"cmd": "ptt", "action": "hold"}, "hold"),
    ({"cmd": "ptt"}, "action"), ({"cmd": "status"}, "status"),
])
def test_bad_requests_name_what_is_wrong(request_, word):
    gate = DictationGate(on=False)
    with pytest.raises(GateError, match=word):
        gate.command(request_)
    assert gate.state == "off"


def test_push_to_talk_restores_the_state_before_the_press():
    gate = DictationGate(on=False)
    assert ptt(gate, "start").state == "on"
    assert ptt(gate, "start").state == "on"  # key repeat: still one press
    assert ptt(gate, "stop").state == "off"
    assert not ptt(gate, "stop").changed  # a release without a press does nothing
    dictation(gate, "on")
    ptt(gate, "start")
    assert ptt(gate, "stop").state == "on"  # always-on dictation survives a press of the key


def test_a_dictation_command_ends_a_held_press():
    gate = DictationGate(on=False)
    ptt(gate, "start")
    dictation(gate, "on")
    c = ptt(gate, "stop")
    assert (c.state, c.changed) == ("on", False)


def test_on_since_sees_a_press_and_release_between_two_looks():
    gate = DictationGate(on=False)
    mark = gate.mark()
    assert not gate.on_since(mark)
    ptt(gate, "start")
    ptt(gate, "stop")
    assert gate.state == "off" and gate.on_since(mark)
    assert not gate.on_since(gate.mark())
    dictation(gate, "on")
    mark = gate.mark()
    dictation(gate, "off")
    assert gate.on_since(mark)


def test_announce_only_on_change_and_report_gives_the_state():
    gate = DictationGate(on=True)
    said: list[str] = []
    gate.command({"cmd": "dictation", "state": "on"}, said.append)
    gate.command({"cmd": "dictation", "state": "off"}, said.append)
    gate.command({"cmd": "ptt", "action": "start"}, said.append)
    gate.command({"cmd": "ptt", "action": "start"}, said.append)
    gate.report(said.append)
    assert said == ["off", "on", "on"]


def test_reports_leave_in_the_order_of_the_changes():
    """A report sent from another thread never says a state older than a change announced before it."""
    gate = DictationGate(on=False)
    queue: list[tuple[str, str]] = []
    stop = threading.Event()

    def reporter():
        while not stop.is_set():
            gate.report(lambda s: queue.append(("report", s)))

    t = threading.Thread(target=reporter)
    t.start()
    try:
        for _ in range(500):
            gate.command({"cmd": "dictation", "state": "toggle"}, lambda s: queue.append(("change", s)))
    finally:
        stop.set()
        t.join()
    current = "off"
    for kind, state in queue:
        if kind == "change":
            current = state
        assert state == current


def test_concurrent_commands_keep_a_consistent_count():
    gate = DictationGate(on=False)
    mark = gate.mark()

    def flip():
        for _ in range(2000):
            dictation(gate, "toggle")

    threads = [threading.Thread(target=flip) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gate.state == "off"  # 8000 toggles
    assert gate.mark().turn_ons == 4000 and gate.on_since(mark)


def routed(router: UtteranceGate, *events):
    out = []
    for ev in events:
        out += router.route(ev)
    return out


def test_utterance_spoken_while_off_is_not_dictation():
    gate = DictationGate(on=False)
    r = UtteranceGate(gate)
    out = routed(r, UttStart(1, 0), audio(1), UttTentativeEnd(1, 100), UttEnd(1, 100, "silence"))
    assert not any(isinstance(e, UttDictation) for e in out)


def test_on_at_the_start_marks_it_right_after_the_start():
    gate = DictationGate(on=True)
    out = routed(UtteranceGate(gate), UttStart(1, 0), audio(1), UttEnd(1, 100, "silence"))
    assert out[0] == UttStart(1, 0) and out[1] == UttDictation(1) and len(out) == 4


def test_turned_on_mid_utterance_marks_it_before_the_next_event():
    gate = DictationGate(on=False)
    r = UtteranceGate(gate)
    first = routed(r, UttStart(1, 0), audio(1))
    ptt(gate, "start")
    ptt(gate, "stop")  # a short press, between two events
    end = UttEnd(1, 100, "silence")
    assert UttDictation(1) not in first
    assert r.route(end) == [UttDictation(1), end]


def test_released_just_before_the_end_of_speech_still_counts():
    gate = DictationGate(on=False)
    r = UtteranceGate(gate)
    ptt(gate, "start")
    out = routed(r, UttStart(1, 0), audio(1))
    ptt(gate, "stop")
    out += routed(r, UttTentativeEnd(1, 100), UttEnd(1, 100, "silence"))
    assert out.count(UttDictation(1)) == 1


def test_turned_on_after_the_tentative_end_does_not_count_unless_speech_resumes():
    gate = DictationGate(on=False)
    r = UtteranceGate(gate)
    routed(r, UttStart(1, 0), audio(1), UttTentativeEnd(1, 100))
    dictation(gate, "on")  # during the hangover: the utterance was already spoken
    assert r.route(UttEnd(1, 100, "silence")) == [UttEnd(1, 100, "silence")]
    # The next utterance starts with dictation on.
    assert UttDictation(2) in routed(r, UttStart(2, 200))

    gate2 = DictationGate(on=False)
    r2 = UtteranceGate(gate2)
    routed(r2, UttStart(1, 0), audio(1), UttTentativeEnd(1, 100))
    dictation(gate2, "on")
    assert routed(r2, UttResumed(1)) == [UttDictation(1), UttResumed(1)]


def test_each_utterance_is_judged_on_its_own():
    gate = DictationGate(on=True)
    r = UtteranceGate(gate)
    routed(r, UttStart(1, 0), UttEnd(1, 100, "max_length"))
    dictation(gate, "off")
    out = routed(r, UttStart(2, 100), audio(2), UttEnd(2, 200, "silence"))
    assert UttDictation(2) not in out
    stray = UttResumed(7)  # an event of no open utterance passes through
    assert r.route(stray) == [stray]

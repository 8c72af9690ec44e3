"""The inference worker's rules with a scripted backend: coalescing, early finals, cancellation
and retraction. The real model's behaviour is covered end to end; these pin the rules down."""

from __future__ import annotations

import threading
import time

import numpy as np

from stenod.asr.api import BackendStatus
from stenod.config import DecodeConfig
from stenod.daemon.inbox import EndOfStream, Inbox, StreamInput, Timeline
from stenod.daemon.infer import InferenceWorker
from stenod.daemon.segment import UttAudio, UttEnd, UttResumed, UttStart, UttTentativeEnd
from stenod.daemon.stats import Stats
from stenod.protocol import Final, Partial, SpeechEnd, SpeechStart
from stenod.types import Transcript

SR = 16000


class ScriptedBackend:
    """Text from the number of samples decoded; `gate` (if set) holds a decode until released,
    polling `cancel()` the way the real backend does between layers."""

    name, device = "scripted", "cpu"

    def __init__(self, text=lambda n: f"words {n}", gate: threading.Event | None = None):
        self.text, self.gate = text, gate
        self.calls: list[int] = []
        self.started = threading.Event()

    def status(self):
        return BackendStatus(mode="plain", device="cpu", dtype="float32", attention="eager", batching=False)

    def transcribe_batch(self, requests):
        return [self._one(r.audio, r.cancel) for r in requests]

    def _one(self, audio, cancel):
        self.calls.append(len(audio))
        self.started.set()
        while self.gate is not None and not self.gate.wait(0.01):
            if cancel is not None and cancel():
                return None
        text = self.text(len(audio))
        return Transcript(text=text, guard=None if text else "no speech", audio_s=len(audio) / SR)


class Run:
    def __init__(self, backend: ScriptedBackend):
        self.backend, self.inbox, self.events, self.stats = backend, Inbox(), [], Stats()
        self.done = threading.Event()
        self.worker = InferenceWorker(lambda: backend, [StreamInput("main", self.inbox, Timeline(lambda: 0))],
                                      self.events.append, 0.5, 0.3, self.stats, lambda b: None,
                                      lambda err: self.done.set(), DecodeConfig(prompt=False))

    def put(self, *events) -> None:
        for ev in events:
            self.inbox.put(ev)

    def wait(self, predicate, timeout: float = 10) -> None:
        end = time.monotonic() + timeout
        while not predicate(self.events):
            assert time.monotonic() < end, [type(e).__name__ for e in self.events]
            time.sleep(0.01)

    def finish(self) -> list:
        self.put(EndOfStream())
        assert self.done.wait(10)
        return self.events


def audio(utt: int, start_s: float, seconds: float) -> UttAudio:
    return UttAudio(utt, int(start_s * SR), np.full(int(seconds * SR), 1000, np.int16))


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def test_queued_audio_is_coalesced_into_one_decode_and_reused_by_the_final():
    r = Run(ScriptedBackend())
    r.put(UttStart(1, 0), *[audio(1, i * 0.5, 0.5) for i in range(10)])  # 5 s queued before the worker runs
    assert r.inbox.backlog_s == 5.0  # the lag `status` reports
    r.worker.start()
    r.wait(lambda evs: of(evs, Partial))
    r.put(UttEnd(1, 5 * SR, "silence"))
    events = r.finish()
    assert r.backend.calls == [5 * SR]  # one decode of everything queued, not ten
    assert r.inbox.backlog_s == 0.0
    (final,) = of(events, Final)
    assert final.text == "words 80000" and final.timings["early_decode"] is True
    assert [type(e) for e in events] == [SpeechStart, Partial, Final, SpeechEnd]


def test_a_tentative_end_starts_the_final_decode_which_the_end_commits():
    r = Run(ScriptedBackend())
    r.worker.start()
    r.put(UttStart(1, 0), audio(1, 0, 0.6))
    time.sleep(0.2)  # not yet enough audio for a partial: first partial after pre-roll + interval
    assert r.backend.calls == []
    r.put(UttTentativeEnd(1, int(0.6 * SR)))
    r.wait(lambda evs: r.backend.calls)
    r.put(UttEnd(1, int(0.6 * SR), "silence"))
    events = r.finish()
    assert r.backend.calls == [int(0.6 * SR)]
    assert of(events, Final)[0].timings["early_decode"] is True


def test_resumed_speech_discards_the_early_decode():
    r = Run(ScriptedBackend())
    r.worker.start()
    r.put(UttStart(1, 0), audio(1, 0, 0.6), UttTentativeEnd(1, int(0.6 * SR)))
    r.wait(lambda evs: r.backend.calls)
    r.put(UttResumed(1), audio(1, 0.6, 0.2), UttEnd(1, int(0.8 * SR), "silence"))
    events = r.finish()
    (final,) = of(events, Final)
    assert final.text == f"words {int(0.8 * SR)}" and final.timings["early_decode"] is False
    assert r.backend.calls[-1] == int(0.8 * SR)


def test_an_end_of_speech_cancels_the_partial_decode_in_flight():
    gate = threading.Event()
    r = Run(ScriptedBackend(gate=gate))
    r.worker.start()
    r.put(UttStart(1, 0), audio(1, 0, 1.0))
    assert r.backend.started.wait(5)  # the partial decode of 1.0 s is running (held by the gate)
    r.put(audio(1, 1.0, 0.2), UttEnd(1, int(1.2 * SR), "silence"))
    r.wait(lambda evs: r.stats.snapshot()["counters"].get("decodes_cancelled") == 1)
    gate.set()
    events = r.finish()
    assert of(events, Partial) == []  # the abandoned partial was never published
    assert r.backend.calls == [SR, int(1.2 * SR)]
    assert of(events, Final)[0].text == f"words {int(1.2 * SR)}"


def test_a_shown_partial_whose_final_has_no_speech_is_retracted():
    r = Run(ScriptedBackend(text=lambda n: "hello" if n == int(0.9 * SR) else ""))
    r.worker.start()
    r.put(UttStart(1, 0), audio(1, 0, 0.9))
    r.wait(lambda evs: of(evs, Partial))
    r.put(audio(1, 0.9, 0.3), UttEnd(1, int(1.2 * SR), "silence"))
    r.put(UttStart(2, 2 * SR), audio(2, 2, 0.5), UttEnd(2, int(2.5 * SR), "silence"))  # nothing ever shown
    events = r.finish()
    finals = of(events, Final)
    assert [(f.utt, f.text) for f in finals] == [(1, "")]  # a retraction for 1, no final at all for 2
    assert [e.utt for e in of(events, SpeechEnd)] == [1, 2]
    assert r.stats.snapshot()["counters"]["guard_drops"] >= 1

"""The scheduler's rules (pure), then the worker scheduling several streams with a scripted backend:
finals before partials, partials fair across streams, several streams' decodes as one batch."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from stenod.asr.api import BackendStatus
from stenod.config import DecodeConfig
from stenod.daemon.inbox import EndOfStream, Inbox, StreamInput, Timeline
from stenod.daemon.infer import InferenceWorker
from stenod.daemon.schedule import Job, Kind, Scheduler
from stenod.daemon.segment import UttAudio, UttEnd, UttStart
from stenod.daemon.stats import Stats
from stenod.protocol import Final, Partial, SpeechEnd, SpeechStart
from stenod.types import Transcript

SR = 16000


def job(stream: str, kind: Kind, since: int, utt: int = 1) -> Job:
    return Job(stream, utt, kind, since)


def test_finals_go_before_partials_and_never_share_a_batch_with_them():
    s = Scheduler(max_batch=8)
    jobs = [job("a", Kind.PARTIAL, 1), job("b", Kind.FINAL, 5), job("c", Kind.EARLY, 3), job("d", Kind.PARTIAL, 0)]
    assert [j.stream for j in s.next_batch(jobs, batching=True)] == ["b", "c"]
    assert [j.stream for j in s.next_batch(jobs, batching=False)] == ["b"]
    assert [j.stream for j in s.next_batch([j for j in jobs if j.kind == Kind.PARTIAL], batching=True)] == ["d", "a"]


def test_finals_oldest_first_and_batches_capped():
    s = Scheduler(max_batch=2)
    jobs = [job(name, Kind.FINAL, since) for name, since in (("a", 30), ("b", 10), ("c", 20))]
    assert [j.stream for j in s.next_batch(jobs, batching=True)] == ["b", "c"]


def test_partials_are_served_round_robin_across_streams():
    s = Scheduler()
    served = []
    for turn in range(6):  # every stream always has a partial due; one decode at a time
        jobs = [job(name, Kind.PARTIAL, since=turn) for name in ("a", "b", "c")]
        served += [j.stream for j in s.next_batch(jobs, batching=False)]
    assert served == ["a", "b", "c", "a", "b", "c"]
    # a stream that waited longest (oldest) is served first among those served equally long ago
    s2 = Scheduler()
    assert s2.next_batch([job("a", Kind.PARTIAL, 9), job("b", Kind.PARTIAL, 2)], batching=False)[0].stream == "b"


def test_finals_do_not_disturb_the_partials_turns():
    s = Scheduler()
    partials = [job(name, Kind.PARTIAL, 0) for name in ("a", "b")]
    assert s.next_batch(partials, batching=False)[0].stream == "a"
    s.next_batch([job("a", Kind.FINAL, 0)], batching=False)
    assert s.next_batch(partials, batching=False)[0].stream == "b"


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="max_batch"):
        Scheduler(max_batch=0)
    with pytest.raises(ValueError, match="one job per stream"):
        Scheduler().next_batch([job("a", Kind.FINAL, 0), job("a", Kind.PARTIAL, 0)], batching=True)
    assert Scheduler().next_batch([], batching=True) == []


# ------------------------------------------------------------------------------ the worker


class BatchRecorder:
    """Text names the stream (from the audio's constant value) and the sample count; records the
    size of every batch it is given."""

    name, device = "scripted", "cpu"

    def __init__(self, batching: bool, gate: threading.Event | None = None):
        self.batching, self.gate = batching, gate
        self.batches: list[list[int]] = []

    def status(self):
        return BackendStatus(mode="plain", device="cpu", dtype="float32", attention="eager", batching=self.batching)

    def transcribe_batch(self, requests):
        if self.gate is not None:
            assert self.gate.wait(10)
        self.batches.append([len(r.audio) for r in requests])
        return [Transcript(text=f"stream{round(float(r.audio[0]) * 32768 / 1000)} {len(r.audio)}",
                           audio_s=len(r.audio) / SR) for r in requests]


def run_streams(backend, n_streams: int, script, until=lambda: True) -> list:
    bell = threading.Event()
    inboxes = [Inbox(bell) for _ in range(n_streams)]
    events, done = [], threading.Event()
    worker = InferenceWorker(lambda: backend, [StreamInput(f"s{i}", inbox, Timeline(lambda: 0))
                                               for i, inbox in enumerate(inboxes)],
                             events.append, 0.5, 0.3, Stats(), lambda b: None, lambda err: done.set(),
                             DecodeConfig(prompt=False))
    script(inboxes)
    worker.start()
    if backend.gate is not None:
        backend.gate.set()
    deadline = time.monotonic() + 20
    while not until():
        assert time.monotonic() < deadline, backend.batches
        time.sleep(0.01)
    for inbox in inboxes:
        inbox.put(EndOfStream())
    assert done.wait(20)
    return events


def utterance(i: int, utt: int, start_s: float, seconds: float) -> list:
    start, n = int(start_s * SR), int(seconds * SR)
    return [UttStart(utt, start), UttAudio(utt, start, np.full(n, 1000 * (i + 1), np.int16)),
            UttEnd(utt, start + n, "silence")]


@pytest.mark.parametrize("batching", [True, False])
def test_ends_of_several_streams_decode_as_one_batch_and_land_on_their_stream(batching):
    backend = BatchRecorder(batching)

    def script(inboxes):
        for i, inbox in enumerate(inboxes):
            for ev in utterance(i, 1, 0, 1.0 + 0.1 * i) + utterance(i, 2, 3, 0.6):
                inbox.put(ev)

    events = run_streams(backend, 3, script)
    finals = [e for e in events if isinstance(e, Final)]
    assert sorted((f.stream, f.utt) for f in finals) == [(f"s{i}", u) for i in range(3) for u in (1, 2)]
    for f in finals:
        assert f.text.startswith(f"stream{int(f.stream[1:]) + 1} ")  # no cross-talk
    if batching:
        assert backend.batches[0] == [16000, 17600, 19200] and all(len(b) == 3 for b in backend.batches)
    else:
        assert all(len(b) == 1 for b in backend.batches)
    for i in range(3):  # every stream's events keep their order
        mine = [type(e) for e in events if e.stream == f"s{i}" and not isinstance(e, Partial)]
        assert mine == [SpeechStart, Final, SpeechEnd, SpeechStart, Final, SpeechEnd]


def test_under_overload_a_final_waits_for_no_partial_and_partials_of_all_streams_coalesce():
    gate = threading.Event()
    backend = BatchRecorder(batching=False, gate=gate)

    def script(inboxes):
        # stream 0: a long utterance still open (partials due); stream 1: an utterance that ended
        inboxes[0].put(UttStart(1, 0))
        for k in range(8):
            inboxes[0].put(UttAudio(1, k * SR // 2, np.full(SR // 2, 1000, np.int16)))
        for ev in utterance(1, 1, 0, 1.0):
            inboxes[1].put(ev)

    events = run_streams(backend, 2, script, until=lambda: len(backend.batches) >= 2)
    assert backend.batches[0] == [SR]  # the final of stream 1 first
    assert backend.batches[1] == [4 * SR]  # then one partial of all 4 s queued, not eight
    assert [e.stream for e in events if isinstance(e, Final)][0] == "s1"


def test_a_partial_in_flight_is_abandoned_when_another_stream_ends_speech():
    """Stream 0's partial is being decoded when stream 1's utterance ends: the partial is given
    up (its cancel() turns true), so stream 1's final does not wait for it."""

    class SlowPartials(BatchRecorder):
        def __init__(self):
            super().__init__(batching=False)
            self.on_partial = lambda: None

        def transcribe_batch(self, requests):
            if requests[0].cancel is None:  # a final
                return super().transcribe_batch(requests)
            start, self.on_partial = self.on_partial, lambda: None
            start()  # (once) another stream's speech ends while this partial decodes
            deadline = time.monotonic() + 10
            while not requests[0].cancel():
                assert time.monotonic() < deadline, "the partial was not abandoned"
                time.sleep(0.005)
            self.batches.append(["cancelled"])
            return [None]

    backend = SlowPartials()

    def script(inboxes):
        inboxes[0].put(UttStart(1, 0))
        inboxes[0].put(UttAudio(1, 0, np.full(2 * SR, 1000, np.int16)))  # a partial is due
        backend.on_partial = lambda: [inboxes[1].put(ev) for ev in utterance(1, 1, 0, 1.0)]

    events = run_streams(backend, 2, script, until=lambda: [SR] in backend.batches)
    assert backend.batches[:2] == [["cancelled"], [SR]], backend.batches  # the final right after
    assert [e.stream for e in events if isinstance(e, Final)][0] == "s1"

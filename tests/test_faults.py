"""Faults survived, on the real daemon replaying the corpus session: a subscriber that stops reading
(ZeroMQ's high-water marks drop its events, never block the daemon; it sees the ``seq`` gap and
recovers by snapshot), and a ``kill -9`` with a restart (the journal keeps every final spoken for)."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import soundfile as sf

from conftest import free_endpoint
from daemon_helpers import Recorder, start_daemon
from stenod.bench.corpus import Span, StreamPlan
from stenod.bench.score import Arrival, score_stream
from stenod.clients.subscriber import RECEIVE_HWM, Received, Resynced, Restarted, Subscriber
from stenod.daemon.journal import read_journal
from stenod.daemon.publish import SEND_HWM
from stenod.protocol import Final, StatusEvent

SPEED = 2.0
FAST_HEARTBEAT_S = 0.002  # 500 events a second: a frozen subscriber overflows its queues in seconds
# more events than a frozen subscriber's queues can hold: its own, the daemon's, and the kernel's
# socket buffer (at most ~212 KB of events of at least ~150 bytes)
OVERFLOW = RECEIVE_HWM + SEND_HWM + 212_992 // 150 + 1000


def _take(sub: Subscriber, items: list, until, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not until(items):
        assert time.monotonic() < deadline, (len(items), items[-3:])
        items.extend(sub.poll(0.2))


def _finals(items: list) -> list[Final]:
    return [i.event for i in items if isinstance(i, Received) and isinstance(i.event, Final) and i.event.text]


def _stopped(items: list) -> bool:
    return any(isinstance(i, Received) and isinstance(i.event, StatusEvent) and i.event.state == "stopped"
               for i in items)


def _journal(env: dict) -> list[dict]:
    return [b for b in read_journal(f"{env['XDG_STATE_HOME']}/stenod") if b["text"]]


def _last_seq(rec: Recorder) -> int:
    lines = rec.path.read_text().splitlines()
    for line in reversed(lines):
        try:
            return json.loads(line)["event"].get("seq", 0)
        except ValueError:  # a line being written
            continue
    return 0


def test_a_frozen_subscriber_never_blocks_the_daemon_and_recovers_by_snapshot(corpus, stenod_env, bundled_model,
                                                                               tmp_path):
    env = {**stenod_env, "XDG_STATE_HOME": str(tmp_path / "state")}
    events, control = free_endpoint(tmp_path, "events"), free_endpoint(tmp_path, "control")
    rec = Recorder(events, tmp_path / "events.jsonl")  # a subscriber that keeps reading
    daemon = start_daemon(env, events, control, "--source", f"file:{corpus.session['path']}", "--speed", str(SPEED),
                          "--exit-at-end", "--set", f"stream.heartbeat_s={FAST_HEARTBEAT_S}")
    items: list = []
    try:
        with Subscriber(events, control, history=0, timeout=10) as sub:
            _take(sub, items, lambda got: len(_finals(got)) >= 1, 300)
            frozen_at = sub.last_seq
            # stop reading until a final was published far beyond what the queues can hold for us
            deadline = time.monotonic() + 300
            while not any(b["seq"] > frozen_at + OVERFLOW for b in _journal(env)):
                assert time.monotonic() < deadline and daemon.poll() is None, "the daemon stopped publishing"
                time.sleep(0.5)
            assert _last_seq(rec) > frozen_at + OVERFLOW  # the daemon kept publishing to the others
            _take(sub, items, lambda got: any(isinstance(i, Resynced) for i in got), 60)
            _take(sub, items, _stopped, 300)  # and it reads on to the end of the stream
            _, stderr = daemon.communicate(timeout=60)
            assert daemon.returncode == 0, stderr
    finally:
        daemon.kill()
        rec.stop()
    gap = next(i for i in items if isinstance(i, Resynced))
    assert frozen_at < gap.expected < gap.got and gap.recovered >= 1
    recovered = [i.event for i in items if isinstance(i, Received) and i.origin == "recovered"]
    assert recovered and all(isinstance(e, Final) for e in recovered)
    journal = _journal(env)
    assert len(journal) >= len(corpus.session["utterances"]) - 2
    # every final of the session reached the frozen subscriber once: live, or from the snapshot
    assert [(f.utt, f.text) for f in _finals(items)] == [(b["utt"], b["text"]) for b in journal]
    seqs = [r["seq"] for r in rec.events()]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # nothing lost for the subscriber that kept reading

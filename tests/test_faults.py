"""Faults survived, on the real daemon replaying the corpus session: a subscriber that stops reading
(ZeroMQ's high-water marks drop its events, never block the daemon; it sees the ``seq`` gap and
recovers by snapshot), and a ``kill -9`` with a restart (the journal keeps every final spoken for)."""

from __future__ import annotations

import json
import signal
import time

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


def _cut(src: str, dst, start_s: float, end_s: float | None = None) -> str:
    audio, rate = sf.read(src, dtype="int16")
    sf.write(dst, audio[int(start_s * rate):None if end_s is None else int(end_s * rate)], rate)
    return f"file:{dst}"


def test_a_session_through_kill_9_a_restart_and_a_frozen_subscriber_keeps_every_final_outside_the_outage(
        corpus, stenod_env, bundled_model, tmp_path):
    """The session up to the middle of utterance k, `kill -9` once the utterance before it is final,
    then a new daemon from the pause after utterance k+1 on; a subscriber stops reading across the
    kill and the restart. The journal holds exactly the utterances spoken outside the outage, once."""
    env = {**stenod_env, "XDG_STATE_HOME": str(tmp_path / "state")}
    utts = corpus.session["utterances"]
    k = 7
    cut_a = (utts[k]["start"] + utts[k]["end"]) / 2
    cut_b = (utts[k + 1]["end"] + utts[k + 2]["start"]) / 2
    first_part = _cut(corpus.session["path"], tmp_path / "a.wav", 0, cut_a)
    second_part = _cut(corpus.session["path"], tmp_path / "b.wav", cut_b)
    events, control = free_endpoint(tmp_path, "events"), free_endpoint(tmp_path, "control")
    items: list = []
    first = start_daemon(env, events, control, "--source", first_part, "--speed", str(SPEED))
    try:
        with Subscriber(events, control, history=0, timeout=10) as sub:
            _take(sub, items, lambda got: len(_finals(got)) >= 1, 300)  # then it stops reading
            deadline = time.monotonic() + 300
            while not any(b["audio"]["end_ms"] / 1000 > utts[k - 1]["start"] for b in _journal(env)):
                assert time.monotonic() < deadline and first.poll() is None, "utterance k-1 never became final"
                time.sleep(0.1)
            first.send_signal(signal.SIGKILL)  # mid-utterance k: no goodbye
            first.wait(timeout=10)
            second = start_daemon(env, events, control, "--source", second_part, "--speed", str(SPEED),
                                  "--exit-at-end")
            try:
                old = {b["session"] for b in _journal(env)}
                while len([b for b in _journal(env) if b["session"] not in old]) < 2:
                    assert time.monotonic() < deadline + 300 and second.poll() is None, "no finals after the restart"
                    time.sleep(0.2)
                # reading again: what was queued, the restart, the new session's finals so far, the rest
                _take(sub, items, _stopped, 400)
                _, stderr = second.communicate(timeout=60)
                assert second.returncode == 0, stderr
            finally:
                second.kill()
    finally:
        first.kill()
    journal = _journal(env)
    sessions = list(dict.fromkeys(b["session"] for b in journal))
    assert len(sessions) == 2
    assert len({(b["session"], b["utt"]) for b in journal}) == len(journal)  # no final twice
    # the journal's finals on the session's timeline: the second daemon's starts at cut_b
    offset = {sessions[0]: 0.0, sessions[1]: cut_b}
    arrivals = [Arrival(b["utt"], b["text"], b["audio"]["start_ms"] / 1000 + offset[b["session"]],
                        b["audio"]["end_ms"] / 1000 + offset[b["session"]], n, True) for n, b in enumerate(journal)]
    outside = [u for i, u in enumerate(utts) if i < k or u["start"] > cut_b]
    plan = StreamPlan(tmp_path / "a.wav", utts[-1]["end"] + 1,
                      tuple(Span("utterance", u["start"], u["end"], text=u["text"]) for u in outside),
                      (), (), (), None)
    score = score_stream(plan, arrivals, 0, 1.0)
    assert (score.missing, score.split) == (0, 0), [(u.index, u.status) for u in score.utterances]
    assert score.wer <= 15, [(u.span.text, u.hyp) for u in score.utterances]
    for f in score.finals:  # a final of no spoken utterance outside the outage lies in the outage
        assert f.kind in ("speech", "retracted") or utts[k - 1]["end"] < f.arrival.end_s and \
            f.arrival.start_s < cut_b, (f.arrival.text, f.arrival.start_s)
    # the subscriber that stopped reading saw the restart and has every final once
    assert any(isinstance(i, Restarted) for i in items)
    assert sorted((f.session, f.utt) for f in _finals(items)) == sorted((b["session"], b["utt"]) for b in journal)

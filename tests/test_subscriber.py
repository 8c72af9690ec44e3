"""Subscriber base: Clone-pattern catch-up, gap and restart recovery, liveness, robustness.

All over real ZeroMQ ipc sockets against :class:`fake_daemon.FakeDaemon`.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from fake_daemon import FakeDaemon, final, partial

from stenod.clients.subscriber import (
    Back, Connected, DaemonError, DaemonUnavailable, Received, Restarted, Resynced, Silent, Subscriber, Waiting,
    request,
)  # fmt: skip
from stenod.protocol import TOPIC_FINAL, TOPIC_PARTIAL, Final, Heartbeat, Partial


def collect(sub: Subscriber, until, timeout: float = 5.0) -> list:
    """Poll ``sub`` until ``until(items)`` holds; fail after ``timeout`` seconds."""
    items: list = []
    deadline = time.monotonic() + timeout
    while not until(items):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s; got {items!r}")
        items.extend(sub.poll(0.05))
    return items


def finals(items) -> list[str]:
    return [i.event.text for i in items if isinstance(i, Received) and isinstance(i.event, Final)]


def received(items, cls=None) -> list[Received]:
    return [i for i in items if isinstance(i, Received) and (cls is None or isinstance(i.event, cls))]


def connected(sub: Subscriber) -> list:
    """Wait for first contact and one live event after it (the stream is flowing)."""
    return collect(sub, lambda items: any(isinstance(i, Connected) for i in items)
                   and any(isinstance(i, Received) and i.origin == "live" for i in items))


def has_text(text):
    return lambda items: text in finals(items)


@pytest.fixture
def daemon(endpoint):
    with FakeDaemon(endpoint("events"), endpoint("control"), heartbeat_s=0.1) as fake:
        yield fake


def subscriber(fake: FakeDaemon, **kw) -> Subscriber:
    kw.setdefault("timeout", 1.0)
    return Subscriber(fake.events, fake.control, **kw)


def test_catch_up_replays_snapshot_and_drops_what_it_covers(daemon):
    for utt, text in enumerate(["one", "two", "three"]):
        daemon.publish(final(utt, text))  # before anyone listens: only the snapshot has them
    with subscriber(daemon, history=2) as sub:
        daemon.wait_subscribed()
        daemon.publish(final(3, "four"))  # queued on the SUB socket *and* in the snapshot
        items = collect(sub, has_text("four"))
        daemon.publish(partial(4, 0, "fi"))
        daemon.publish(final(4, "five"))
        items += collect(sub, has_text("five"))
    assert isinstance(items[0], Connected) and items[0].session == daemon.session
    assert items[0].status["model"] == "fake/tiny"
    assert finals(items) == ["three", "four", "five"]  # last 2 of the snapshot, then live, once each
    origins = {i.event.text: i.origin for i in received(items, Final)}
    assert origins == {"three": "history", "four": "history", "five": "live"}
    assert [i.event.text for i in received(items, Partial)] == ["fi"]
    assert not [i for i in items if isinstance(i, (Resynced, Restarted, Silent))]
    assert json.loads(received(items, Final)[-1].raw)["text"] == "five"


def test_history_zero_replays_nothing(daemon):
    daemon.publish(final(0, "old"))
    with subscriber(daemon, history=0) as sub:
        daemon.wait_subscribed()
        collect(sub, lambda items: any(isinstance(i, Connected) for i in items))
        daemon.publish(final(1, "new"))
        assert finals(collect(sub, has_text("new"))) == ["new"]


def test_seq_gap_triggers_resync_and_recovers_missed_finals(daemon):
    with subscriber(daemon) as sub:
        daemon.wait_subscribed()
        connected(sub)
        daemon.publish(final(0, "seen"))
        collect(sub, has_text("seen"))
        daemon.publish(final(1, "missed"), lose=True)
        daemon.publish(partial(2, 0, "x"), lose=True)
        daemon.publish(final(2, "after"))
        items = collect(sub, has_text("after"))
        assert len(daemon.requests) == 3  # snapshot + status at start, one snapshot for the gap
    (resync,) = [i for i in items if isinstance(i, Resynced)]
    assert resync.recovered == 2
    assert finals(items) == ["missed", "after"]
    assert all(i.origin == "recovered" for i in received(items, Final))
    assert daemon.requests[-1] == "snapshot"


def test_heartbeat_reveals_missed_events_when_idle(endpoint):
    with FakeDaemon(endpoint("events"), endpoint("control"), heartbeat_s=None) as fake, subscriber(fake) as sub:
        fake.wait_subscribed()
        collect(sub, lambda items: any(isinstance(i, Connected) for i in items))
        fake.publish(Heartbeat(last_seq=1))
        collect(sub, lambda items: bool(received(items, Heartbeat)))
        fake.publish(final(0, "lost in transit"), lose=True)
        fake.publish(Heartbeat(last_seq=fake.seq + 1))
        items = collect(sub, has_text("lost in transit"))
    assert any(isinstance(i, Resynced) for i in items)


def test_new_session_is_reported_and_resynced(daemon):
    with subscriber(daemon) as sub:
        daemon.wait_subscribed()
        daemon.publish(final(0, "before"))
        collect(sub, has_text("before"))
        old = daemon.session
        new = daemon.restart()
        daemon.publish(final(0, "after restart"))  # utt numbers start again in a new session
        items = collect(sub, has_text("after restart"))
        # a straggler from the old run must not flip the subscriber back
        body = {"v": 1, "type": "partial", "session": old, "seq": 99, "t_wall": "", "t_mono_ns": 0, "utt": 9,
                "rev": 0, "audio": {"start_ms": 0, "end_ms": 1}, "text": "stale", "stable_len": 0}
        daemon.publish_raw([TOPIC_PARTIAL.encode(), json.dumps(body).encode()])
        daemon.publish(final(1, "marker"))
        items += collect(sub, has_text("marker"))
    (restart,) = [i for i in items if isinstance(i, Restarted)]
    assert (restart.old_session, restart.session) == (old, new)
    assert restart.status["session"] == new
    assert finals(items).count("after restart") == 1
    assert "stale" not in [i.event.text for i in received(items, Partial)]
    assert sub.session == new


def test_silence_is_reported_then_recovery(endpoint):
    events, control = endpoint("events"), endpoint("control")
    fake = FakeDaemon(events, control, heartbeat_s=0.05).start()
    try:
        with Subscriber(events, control, silence_s=0.4, timeout=0.5) as sub:
            fake.wait_subscribed()
            collect(sub, lambda items: any(isinstance(i, Connected) for i in items))
            fake.call(lambda: setattr(fake, "heartbeats", False))
            t0 = time.monotonic()
            items = collect(sub, lambda got: any(isinstance(i, Silent) for i in got), timeout=3)
            assert 0.3 < time.monotonic() - t0 < 1.5
            fake.call(lambda: setattr(fake, "heartbeats", True))
            items = collect(sub, lambda got: any(isinstance(i, Back) for i in got), timeout=3)
            assert not [i for i in items if isinstance(i, Restarted)]
            # a real restart: the process goes away, a new one binds the same endpoints
            fake.stop()
            collect(sub, lambda got: any(isinstance(i, Silent) for i in got), timeout=3)
            fake = FakeDaemon(events, control, heartbeat_s=0.05).start()
            fake.publish(final(0, "hello again"))
            items = collect(sub, has_text("hello again"), timeout=5)
            assert [i.session for i in items if isinstance(i, Restarted)] == [fake.session]
    finally:
        fake.stop()


def test_waits_for_a_daemon_that_is_not_there_yet(endpoint):
    events, control = endpoint("events"), endpoint("control")
    with Subscriber(events, control, timeout=0.2, retry_s=0.1) as sub:
        items = sub.poll(0.1)
        assert items == [Waiting(control)]
        assert sub.poll(0.2) == []  # said once, not repeated
        with FakeDaemon(events, control, heartbeat_s=0.05) as fake:
            fake.publish(final(0, "first words"))
            items = collect(sub, has_text("first words"))
    assert isinstance(items[0], Connected) and items[0].session == fake.session


def test_unknown_topic_is_skipped_without_resync(daemon):
    with subscriber(daemon) as sub:
        daemon.wait_subscribed()
        collect(sub, lambda items: any(isinstance(i, Connected) for i in items))
        daemon.publish(partial(0, 0, "a"))
        collect(sub, lambda items: bool(received(items, Partial)))
        body = {"v": 1, "type": "future.thing", **daemon.next_envelope(), "t_wall": "", "t_mono_ns": 0}
        daemon.publish_raw([b"stenod.v1.future.thing", json.dumps(body).encode()])
        daemon.publish(final(0, "a b"))
        items = collect(sub, has_text("a b"))
    assert not [i for i in items if isinstance(i, Resynced)]
    assert len(daemon.requests) == 2  # only the start-up snapshot and status


def test_malformed_events_are_logged_once_and_skipped(daemon, caplog):
    caplog.set_level(logging.WARNING, logger="stenod.clients.subscriber")
    with subscriber(daemon) as sub:
        daemon.wait_subscribed()
        collect(sub, lambda items: any(isinstance(i, Connected) for i in items))
        for junk in (b"{not json", b"[1, 2]", b'{"v": 1, "type": "partial"}'):
            daemon.publish_raw([TOPIC_PARTIAL.encode(), junk])
        daemon.publish_raw([TOPIC_FINAL.encode(), b"\xff\xfe"])
        daemon.publish(final(0, "still fine"))
        items = collect(sub, has_text("still fine"))
    warnings = [r.getMessage() for r in caplog.records if "malformed event" in r.getMessage()]
    assert len(warnings) == 2  # one per topic
    assert finals(items) == ["still fine"]


def test_topic_filter_keeps_gap_detection_quiet(daemon):
    with subscriber(daemon, topics=[TOPIC_FINAL]) as sub:
        daemon.wait_subscribed()
        daemon.publish(partial(0, 0, "hel"))
        daemon.publish(partial(0, 1, "hello"))
        daemon.publish(final(0, "hello"))
        items = collect(sub, has_text("hello"))
        time.sleep(0.3)  # heartbeats keep coming; none is delivered
        items += sub.poll(0)
    assert {type(i.event) for i in received(items)} == {Final}
    assert not [i for i in items if isinstance(i, Resynced)]


def test_request_and_its_errors(daemon, endpoint):
    assert request(daemon.control, "status")["state"] == "ready"
    assert request(daemon.control, "pause") == {"ok": True, "state": "paused"}
    with pytest.raises(DaemonError, match="unknown command 'dance'"):
        request(daemon.control, "dance")
    assert request(daemon.control, "dance", check=False)["ok"] is False
    nobody = endpoint("nobody")
    t0 = time.monotonic()
    with pytest.raises(DaemonUnavailable) as info:
        request(nobody, "status", timeout=0.2)
    assert time.monotonic() - t0 < 1.0
    assert str(info.value) == f"no stenod daemon answering at {nobody} — is `stenod run` running?"
    with pytest.raises(ValueError, match="invalid ZeroMQ endpoint"):
        request("nonsense", "status")


def test_mute_control_socket_is_rebuilt_after_a_timeout(daemon):
    daemon.call(lambda: setattr(daemon, "answer_control", False))
    with Subscriber(daemon.events, daemon.control, timeout=0.2, retry_s=0.05) as sub:
        assert isinstance(sub.poll(0)[0], Waiting)
        daemon.call(lambda: setattr(daemon, "answer_control", True))
        items = collect(sub, lambda got: any(isinstance(i, Connected) for i in got))
    assert items[0].session == daemon.session

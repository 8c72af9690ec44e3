"""The client base class: dispatch, the dictation gate, notices and a clean stop, over real
ZeroMQ sockets against :class:`fake_daemon.FakeDaemon`."""

from __future__ import annotations

import dataclasses
import threading
import time

from fake_daemon import FakeDaemon, final, partial

from stenod.clients.base import Client
from stenod.protocol import Final, Partial, StatusEvent, decode, encode


class Recording(Client):
    name = "recording"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, str]] = []
        self.notices: list[object] = []
        self.closed = False

    def on_partial(self, event: Partial) -> None:
        self.seen.append(("partial", event.text))

    def on_final(self, event: Final, origin: str = "live") -> None:
        self.seen.append(("final", event.text))

    def on_status(self, event: StatusEvent) -> None:
        self.seen.append(("status", event.state))

    def on_notice(self, notice) -> None:
        self.notices.append(notice)

    def close(self) -> None:
        self.closed = True


class Gated(Recording):
    gated = True


def _off(event):
    return dataclasses.replace(event, dictation=False)


def run_client(client: Client, daemon: FakeDaemon, publish) -> None:
    thread = threading.Thread(target=client.run)
    thread.start()
    try:
        daemon.wait_subscribed()
        deadline = time.monotonic() + 5
        while "snapshot" not in daemon.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        publish()
        deadline = time.monotonic() + 5
        while not any(kind == "final" and text == "end" for kind, text in client.seen):
            assert time.monotonic() < deadline, client.seen
            time.sleep(0.02)
    finally:
        client.stop()
        thread.join(5)
    assert not thread.is_alive()
    assert client.closed


def _publish_mixed(daemon: FakeDaemon) -> None:
    daemon.publish(partial(1, 0, "on par"))
    daemon.publish(final(1, "on words"))
    daemon.publish(_off(partial(2, 0, "off par")))
    daemon.publish(_off(final(2, "off words")))
    daemon.publish(StatusEvent(state="ready", detail={"dictation": False}))
    daemon.publish(final(3, "end"))


def test_gated_client_skips_utterances_spoken_with_dictation_off(endpoint):
    with FakeDaemon(endpoint("ev"), endpoint("ctl")) as daemon:
        client = Gated(daemon.events, daemon.control)
        run_client(client, daemon, lambda: _publish_mixed(daemon))
    assert client.seen == [("partial", "on par"), ("final", "on words"), ("status", "ready"), ("final", "end")]


def test_always_and_ungated_clients_see_everything(endpoint):
    for client_cls, always in ((Gated, True), (Recording, False)):
        with FakeDaemon(endpoint("ev"), endpoint("ctl")) as daemon:
            client = client_cls(daemon.events, daemon.control, always=always)
            run_client(client, daemon, lambda: _publish_mixed(daemon))
        assert [t for k, t in client.seen if k == "final"] == ["on words", "off words", "end"]


def test_dictation_field_round_trips_and_defaults_to_on():
    off = _off(final(4, "x"))
    assert decode(encode(off)).dictation is False
    topic, body = encode(final(4, "x"))
    legacy = body.replace(b',"dictation":true', b"")
    assert b"dictation" not in legacy
    assert decode([topic, legacy]).dictation is True


def test_waiting_notice_when_no_daemon(endpoint):
    client = Recording(endpoint("ev"), endpoint("ctl"))
    client.subscriber._ctl.timeout = 0.2
    thread = threading.Thread(target=client.run)
    thread.start()
    deadline = time.monotonic() + 5
    while not client.notices and time.monotonic() < deadline:
        time.sleep(0.05)
    client.stop()
    thread.join(5)
    assert type(client.notices[0]).__name__ == "Waiting"

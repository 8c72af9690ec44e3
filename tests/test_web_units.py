"""The web server's pure parts: the access token file and the session state / browser messages."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest

from stenod.clients.subscriber import Connected, Received, Restarted, Resynced, Silent, Waiting
from stenod.protocol import AudioSpan, Final, Heartbeat, Partial, encode, stamp
from stenod.web.auth import TokenError, load_or_create_token, needs_token, presented_token, token_ok
from stenod.web.state import SessionState

SESSION, OTHER = "s-one", "s-two"


def received(event, origin="live") -> Received:
    return Received(event, encode(event)[1], origin)


def fin(utt: int, seq: int, text: str, session: str = SESSION) -> Final:
    return stamp(Final(utt=utt, rev=2, audio=AudioSpan(utt * 1000, utt * 1000 + 800), text=text,
                       stable_len=len(text), model="m"), session, seq)


def part(utt: int, rev: int, seq: int, text: str, session: str = SESSION) -> Partial:
    return stamp(Partial(utt=utt, rev=rev, audio=AudioSpan(0, 10), text=text, stable_len=0), session, seq)


# ---------------------------------------------------------------------------------- token


def test_token_made_once_with_mode_0600(tmp_path):
    path = tmp_path / "conf" / "stenod" / "web-token"
    token = load_or_create_token(path)
    assert len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token
    assert not [p for p in path.parent.iterdir() if p.name != "web-token"]  # no temp file left


def test_token_file_open_to_others_is_refused(tmp_path):
    path = tmp_path / "web-token"
    path.write_text("abc\n")
    os.chmod(path, 0o644)
    with pytest.raises(TokenError, match="readable by other users"):
        load_or_create_token(path)
    os.chmod(path, 0o600)
    assert load_or_create_token(path) == "abc"
    path.write_text("")
    with pytest.raises(TokenError, match="empty"):
        load_or_create_token(path)


def test_when_a_token_is_needed_and_how_it_is_shown():
    assert not needs_token("127.0.0.1") and not needs_token("::1") and not needs_token("localhost")
    assert needs_token("0.0.0.0") and needs_token("127.0.0.2") and needs_token("192.168.1.5")
    assert presented_token({"token": "q"}, {"Authorization": "Bearer h"}) == "q"
    assert presented_token({}, {"Authorization": "Bearer  h "}) == "h"
    assert presented_token({}, {"Authorization": "Basic h"}) is None
    assert token_ok("secret", "secret") and not token_ok("secret", "secreT") and not token_ok("secret", None)


# ---------------------------------------------------------------------------------- state


def test_first_contact_gives_a_snapshot_then_live_bodies_unchanged():
    state = SessionState()
    assert [json.loads(m)["state"] for m in state.apply([Waiting("ipc://x")], 0)[:1]] == ["waiting"]
    out = state.apply([Connected(SESSION, 5), received(fin(1, 3, "one."), "history")], 5)
    notice, snap = (json.loads(m) for m in out)
    assert notice == {"type": "web.daemon", "state": "connected", "session": SESSION}
    assert snap["type"] == "web.snapshot" and snap["seq"] == 5 and snap["session"] == SESSION
    assert [f["text"] for f in snap["finals"]] == ["one."]
    live = [received(part(2, 1, 6, "tw")), received(part(2, 0, 7, "t")), received(fin(2, 8, "two."))]
    out = state.apply(live, 8)
    assert out == [r.raw.decode() for r in live]  # exactly as published
    assert state.seq == 8 and [f.text for f in state.finals] == ["one.", "two."]


def test_partial_in_snapshot_is_the_newest_of_the_open_utterance():
    state = SessionState()
    state.apply([Connected(SESSION, 0)], 0)
    state.apply([received(part(1, 2, 1, "newer")), received(part(1, 1, 2, "older"))], 2)
    assert state.snapshot()["partial"]["text"] == "newer"
    state.apply([received(fin(1, 3, "Final."))], 3)
    state.apply([received(part(1, 5, 4, "late for a closed utterance"))], 4)
    assert state.snapshot()["partial"] is None


def test_restart_clears_the_session_and_resync_sends_a_snapshot():
    state = SessionState()
    state.apply([Connected(SESSION, 2), received(fin(1, 1, "old session."), "history")], 2)
    out = [json.loads(m) for m in state.apply([Restarted(SESSION, OTHER), received(fin(1, 1, "new.", OTHER),
                                                                                   "recovered")], 1)]
    assert out[0] == {"type": "web.daemon", "state": "restarted", "session": OTHER, "old_session": SESSION}
    assert out[1]["session"] == OTHER and [f["text"] for f in out[1]["finals"]] == ["new."]
    out = [json.loads(m) for m in state.apply([Resynced(3, 6, 1), received(fin(2, 5, "missed.", OTHER),
                                                                           "recovered")], 6)]
    assert out[0]["state"] == "resynced" and out[1]["seq"] == 6
    assert [f["text"] for f in out[1]["finals"]] == ["new.", "missed."]
    out = [json.loads(m) for m in state.apply([Silent(3.0)], 6)]
    assert out[0]["state"] == "silent" and out[1]["daemon"] == "silent"
    hb = stamp(Heartbeat(last_seq=7), OTHER, 7)
    assert state.apply([received(hb)], 7) == [encode(hb)[1].decode()]


def test_bridge_hands_batches_to_the_loop_and_reports_a_dead_thread():
    from stenod.web.bridge import Bridge

    class Script:
        """Stands in for the Subscriber: two batches, then a failure."""

        control_endpoint = "ipc://unused"
        last_seq = 0

        def __init__(self):
            self.batches = [[Connected(SESSION, 0)], [received(fin(1, 1, "one."))]]
            self.closed = False

        def poll(self, timeout):
            if not self.batches:
                raise RuntimeError("socket went bad")
            self.last_seq += 1
            return self.batches.pop(0)

        def close(self):
            self.closed = True

    async def scenario():
        sub = Script()
        bridge = Bridge(sub)  # type: ignore[arg-type]
        listener = bridge.listen()
        bridge.start()
        await asyncio.wait_for(bridge.failed.wait(), 10)
        await bridge.stop()
        messages = []
        while not listener.queue.empty():
            messages.append(listener.queue.get_nowait())
        return sub, bridge, messages

    sub, bridge, messages = asyncio.run(scenario())
    assert sub.closed and [f.text for f in bridge.state.finals] == ["one."]
    kinds = [json.loads(m).get("type") for m in messages]
    assert kinds == ["web.snapshot", "web.daemon", "web.snapshot", "final"]

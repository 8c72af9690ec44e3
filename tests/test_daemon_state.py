"""The daemon's state owner and the sd_notify helpers, without a daemon."""

from __future__ import annotations

import os
import socket
import threading

from stenod.daemon.notify import sd_notify, watchdog_interval
from stenod.daemon.state import DaemonState


def _state():
    seen = []
    return DaemonState(lambda name, detail: seen.append((name, detail))), seen


def test_resume_racing_the_model_becoming_ready_ends_ready():
    for order in (("resume", "loaded"), ("loaded", "resume")):
        st, seen = _state()
        st.update()
        st.update(paused=True)
        for step in order:
            st.update(**({"paused": False} if step == "resume" else {"loaded": True}))
        assert st.name == "ready", order
        assert [n for n, _ in seen][-1] == "ready"


def test_concurrent_updates_announce_every_change_in_order():
    st, seen = _state()
    st.update(loaded=True)

    def flip(n):
        for i in range(n):
            st.update(paused=i % 2 == 0)

    threads = [threading.Thread(target=flip, args=(501,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = [n for n, _ in seen]
    assert all(a != b for a, b in zip(names, names[1:])), "a change was announced twice"
    assert names[-1] == st.name


def test_stop_with_error_keeps_the_first_error_and_ignores_pause():
    st, seen = _state()
    st.update(loaded=True)
    st.update(stopped=True, error="vad thread failed")
    st.update(error="a later one")
    assert st.update(paused=True) == "error" and not st.paused.is_set()
    assert seen[-1] == ("error", {"error": "vad thread failed"})


def test_sd_notify_sends_one_datagram_to_path_and_abstract_sockets(tmp_path):
    path = tmp_path / "n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(path))
        assert sd_notify("READY=1", {"NOTIFY_SOCKET": str(path)})
        assert s.recv(100) == b"READY=1"
    name = f"stenod-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        assert sd_notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert s.recv(100) == b"WATCHDOG=1"
    assert not sd_notify("READY=1", {})


def test_watchdog_interval_follows_sd_watchdog_enabled():
    assert watchdog_interval({"WATCHDOG_USEC": "3000000"}) == 3.0
    assert watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}) == 3.0
    assert watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "x"}) is None and watchdog_interval({}) is None

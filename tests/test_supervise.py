"""The supervisor without a daemon: crashes and early ends are faults; the watchdog is fed only
while the worker is not stalled."""

from __future__ import annotations

import socket
import threading

import pytest

from stenod.daemon.supervise import Supervisor


def _thread(name, target):
    t = threading.Thread(target=target, name=name, daemon=True)
    t.start()
    t.join(5)
    return t


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the crash is on purpose
def test_a_crash_or_an_early_end_is_a_fault_and_an_allowed_end_is_not():
    sup = Supervisor(lambda limit: False)
    sup.install()
    try:
        def boom():
            raise ValueError("bad frame")

        sup.watch(_thread("vad", lambda: None), may_end=lambda: True)
        assert sup.fault() is None
        sup.watch(_thread("publisher", lambda: None))
        assert sup.fault() == "publisher thread ended unexpectedly"
        sup2 = Supervisor(lambda limit: False)
        sup2.install()
        _thread("capture-MicSource", boom)  # not watched: still reported
        assert sup2.fault() == "capture-MicSource thread failed: ValueError: bad frame"
        sup2.uninstall()
    finally:
        sup.uninstall()


def test_watchdog_pings_stop_while_the_worker_is_stalled(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(path))
        s.settimeout(0.2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "1000000")
        now, stalled = [0.0], [False]
        sup = Supervisor(lambda limit: stalled[0] and limit == 0.5, clock=lambda: now[0])
        pings = 0
        for step in range(8):  # 4 s of main-loop ticks, stalled from 2 s on
            now[0], stalled[0] = step * 0.5, step >= 4
            assert sup.check() is None
            try:
                pings += s.recv(100) == b"WATCHDOG=1"
            except TimeoutError:
                pass
        assert pings == 4

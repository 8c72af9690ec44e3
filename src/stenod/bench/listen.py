"""Benchmark subscriber: ``python -m stenod.bench.listen EVENTS OUT.jsonl [--control C]``.

A separate process, like any real client, that writes one JSON line per event it receives:
``{"topic", "recv_mono_ns", "event"}`` where ``event`` is the body as sent and ``recv_mono_ns``
is ``time.monotonic_ns()`` at receipt. CLOCK_MONOTONIC is shared by all processes on a Linux
machine, so these times compare directly with the daemon's ``t_mono_ns`` and ``timings``.

Heartbeats are written too: with them every ``seq`` is accounted for, so a gap means an event was
lost in transport. With ``--control``, once the daemon reports ``ready`` (or speech comes) the listener
asks it for its status (which holds ``stream_origin_mono_ns``) and writes the reply under the
topic ``control.status``. The first line (topic ``listener.ready``) says the subscription is
up; the listener exits after the daemon's ``stopped``/``error`` status, or on SIGTERM/SIGINT.
Imports only pyzmq and the standard library, so it starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

STATUS = b"stenod.v1.status"
HEARTBEAT = b"stenod.v1.heartbeat"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stenod.bench.listen", description=__doc__.splitlines()[0])
    ap.add_argument("events", help="ZeroMQ events endpoint")
    ap.add_argument("out", help="JSON lines file to write")
    ap.add_argument("--control", help="control endpoint to ask for the status once the daemon is ready")
    args = ap.parse_args(argv)

    import zmq

    stop = False

    def on_signal(_sig, _frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"stenod.v1.")
    sub.connect(args.events)
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    ctl = None
    asked = False
    with open(args.out, "w", encoding="utf-8") as out:
        def write(topic: str, body, recv_ns: int) -> None:
            out.write(json.dumps({"topic": topic, "recv_mono_ns": recv_ns, "event": body},
                                 ensure_ascii=False, separators=(",", ":")) + "\n")
            out.flush()

        write("listener.ready", {}, time.monotonic_ns())
        finished_at = None
        while not stop:
            ready = dict(poller.poll(100))
            if finished_at is not None and time.monotonic() - finished_at > 0.5:
                break
            if sub in ready:
                while True:
                    try:
                        frames = sub.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    recv_ns = time.monotonic_ns()
                    if len(frames) != 2:
                        continue
                    try:
                        body = json.loads(frames[1])
                    except ValueError:
                        body = {"unparsed": frames[1].decode("utf-8", "replace")}
                    write(frames[0].decode("utf-8", "replace"), body, recv_ns)
                    state = body.get("state") if frames[0] == STATUS and isinstance(body, dict) else None
                    # ready: its status event, or speech (a daemon with no model to load, decoding on
                    # a service, can be ready before this subscription was up; heartbeats come
                    # while the model loads too)
                    running = state in ("ready", "paused") or frames[0] not in (STATUS, HEARTBEAT)
                    if running and args.control and not asked:
                        asked = True
                        ctl = ctx.socket(zmq.DEALER)
                        ctl.setsockopt(zmq.LINGER, 0)
                        ctl.connect(args.control)
                        ctl.send_multipart([b"", b'{"cmd":"status"}'])
                        poller.register(ctl, zmq.POLLIN)
                    elif state in ("stopped", "error"):
                        finished_at = time.monotonic()
            if ctl is not None and ctl in ready:
                frames = ctl.recv_multipart()
                try:
                    reply = json.loads(frames[-1])
                except ValueError:
                    reply = {"ok": False, "error": "unparsed reply"}
                write("control.status", reply, time.monotonic_ns())
                poller.unregister(ctl)
                ctl.close(0)
                ctl = None
    if ctl is not None:
        ctl.close(0)
    sub.close(0)
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())

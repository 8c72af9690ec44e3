"""Run as a separate process: subscribe to a stenod events endpoint and write every event body,
with the monotonic receive time, as JSON lines (`python tests/event_recorder.py EVENTS OUT [SECONDS]`).
Stops after SECONDS without any event (default 600), or on SIGTERM."""

import json
import signal
import sys
import time

import zmq


def main() -> None:
    endpoint, out_path = sys.argv[1], sys.argv[2]
    idle = float(sys.argv[3]) if len(sys.argv) > 3 else 600.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, b"stenod.v1.")
    sock.connect(endpoint)
    with open(out_path, "w") as out:
        print("listening", flush=True)
        while sock.poll(idle * 1000):
            topic, body = sock.recv_multipart()
            event = json.loads(body)
            event["_topic"], event["_recv_mono_ns"] = topic.decode(), time.monotonic_ns()
            out.write(json.dumps(event) + "\n")
            out.flush()


if __name__ == "__main__":
    main()

"""What a native decode through `stenod serve` costs over a local decode of the same audio.

    python -m stenod.serve.overhead --url http://127.0.0.1:8000 --model bundled:tiny.en CLIP.wav...

Loads the same model here, decodes each clip locally and through the service (one request at a
time, alternating, after one warm-up each), and prints the medians and their ratio as JSON. Run it
on a quiet machine: the service and this process share its CPUs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stenod.serve.overhead", description=__doc__.split("\n\n")[0],
                                epilog="example: python -m stenod.serve.overhead --model bundled:tiny.en a.wav b.wav")
    p.add_argument("paths", nargs="+", metavar="CLIP")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--model", default="bundled:tiny.en", help="the model the service runs")
    p.add_argument("--token-file", type=Path, default=None)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)

    from stenod.cli import quiet_libraries

    quiet_libraries()
    from stenod.asr.backend import load_backend
    from stenod.audio import load_audio
    from stenod.serve.token import read_token, token_path
    from stenod.serve.wire import request_to_wire, transcript_from_wire
    from stenod.types import DecodeRequest

    token = read_token(args.token_file or token_path())
    backend = load_backend(args.model)
    backend.warm_up()

    def remote(req: DecodeRequest):
        body = json.dumps({"requests": [request_to_wire(req)]}).encode()
        r = urllib.request.Request(args.url + "/v1/stenod/decode", data=body, method="POST",
                                   headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=120) as answer:
            return transcript_from_wire(json.loads(answer.read())["results"][0])

    local_s, remote_s, same = [], [], 0
    reqs = [DecodeRequest(load_audio(path)) for path in args.paths]
    remote(reqs[0])
    for _ in range(args.rounds):
        for req in reqs:
            t0 = time.perf_counter()
            (here,) = backend.transcribe_batch([req])
            t1 = time.perf_counter()
            there = remote(req)
            t2 = time.perf_counter()
            local_s.append(t1 - t0)
            remote_s.append(t2 - t1)
            same += here.text == there.text
    lo, re = statistics.median(local_s), statistics.median(remote_s)
    print(json.dumps({"decodes": len(local_s), "same_text": same, "local_median_ms": round(lo * 1e3, 1),
                      "remote_median_ms": round(re * 1e3, 1), "overhead_ms": round((re - lo) * 1e3, 1),
                      "ratio": round(re / lo, 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

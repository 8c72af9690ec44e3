"""`stenod demo`: the daemon and the terminal view in one go, on a shipped recording or the mic."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO_AUDIO = Path(__file__).resolve().parents[1] / "data" / "demo.flac"


def register(sub) -> None:
    p = sub.add_parser("demo", help="see live transcription now: daemon + terminal view on a sample recording",
                       description="Start a private daemon and show its live transcript in this terminal. "
                                   "By default it plays a short recording shipped with stenod in real time "
                                   "(no microphone needed); --mic listens to the default input instead.")
    p.add_argument("--mic", action="store_true", help="transcribe the default microphone until Ctrl-C")
    p.add_argument("--model", default="bundled:tiny.en",
                   help="model to use (default bundled:tiny.en: no download needed)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.set_defaults(func=run)


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.clients.subscriber import Subscriber
    from stenod.clients.terminal import TerminalView

    tmp = Path(tempfile.mkdtemp(prefix="stenod-demo-"))
    events, control = f"ipc://{tmp}/events", f"ipc://{tmp}/control"
    source = ["--source", "mic"] if args.mic else ["--source", f"file:{DEMO_AUDIO}", "--exit-at-end"]
    log_path = tmp / "daemon.log"
    cmd = [sys.executable, "-m", "stenod", "run", "--model", args.model, "--device", args.device,
           "--events", events, "--control", control, *source]
    print(f"stenod demo: starting the daemon with {args.model} "
          f"({'microphone' if args.mic else 'sample recording, real time'}); Ctrl-C to stop", file=sys.stderr)
    with open(log_path, "w") as log:
        daemon = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
    view = TerminalView(err=open(os.devnull, "w"))
    subscriber = Subscriber(events, control, history=0, silence_s=30)
    ready = False
    try:
        while daemon.poll() is None:
            for item in subscriber.poll(0.2):
                view.handle(item)
            if not ready and "ready on" in log_path.read_text():
                ready = True
                print("stenod demo: model ready, listening", file=sys.stderr)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # the last events may still be in flight
            for item in subscriber.poll(0.1):
                view.handle(item)
    except KeyboardInterrupt:
        daemon.terminate()
    finally:
        subscriber.close()
        view.close()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
    log = log_path.read_text()
    shutil.rmtree(tmp, ignore_errors=True)
    if daemon.returncode not in (0, -15):
        errors = [line for line in log.splitlines() if "error" in line.lower()] or log.splitlines()[-3:]
        raise UserError("the daemon stopped: " + " / ".join(line.removeprefix("stenod: ") for line in errors))
    return 0

"""`stenod devices`: the audio input devices `--source mic:NAME|INDEX` can use."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("devices", help="list audio input devices",
                       description="List the audio input devices PortAudio sees; use one with "
                                   "`stenod run --source mic:INDEX` or `--source mic:NAME`.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.daemon.capture import SourceError
    from stenod.daemon.mic import list_devices

    try:
        devices = list_devices()
    except (SourceError, OSError) as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps(devices))
        return 0
    if not devices:
        print("no audio input devices found (is a sound server running?)")
        return 1
    for d in devices:
        mark = "*" if d["default"] else " "
        print(f"{mark} {d['index']:>3}  {d['name']}  ({d['channels']} ch, {d['default_samplerate']:.0f} Hz)")
    print("* = default input")
    return 0

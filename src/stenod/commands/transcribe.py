"""`stenod transcribe`: offline transcription of audio files with the daemon's model and guards."""

from __future__ import annotations

import argparse
import json
import sys
import time


def register(sub) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files (WAV/FLAC/OGG, any rate; - = WAV on stdin)",
                       description="Transcribe audio files with the same model and decoding guards as the "
                                   "daemon. Any sample rate and channel count is resampled to 16 kHz mono.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file, or - to read a WAV from stdin")
    add_model_args(p)
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line: path, text, duration_s, elapsed_s, model, device")
    p.set_defaults(func=run)


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="hub id, local transformers directory, or bundled:tiny.en "
                        "(default: distil-whisper/distil-medium.en, falling back to bundled:tiny.en offline)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available, else CPU), cpu, cuda, cuda:N")


def load_backend_or_fail(args):
    from stenod.asr.backend import BackendOptions, load_backend
    from stenod.asr.resolve import ModelError
    from stenod.cli import UserError

    try:
        return load_backend(args.model, BackendOptions(device=args.device))
    except ModelError as exc:
        raise UserError(str(exc)) from None


def run(args) -> int:
    from stenod.audio import AudioError, load_audio, split_windows

    backend = load_backend_or_fail(args)
    failed = 0
    for path in args.paths:
        t0 = time.perf_counter()
        try:
            audio = load_audio(sys.stdin.buffer.read() if path == "-" else path)
        except AudioError as exc:
            print(f"stenod: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        texts = [backend.transcribe(w).text for w in split_windows(audio)]
        text = " ".join(t for t in texts if t)
        elapsed = time.perf_counter() - t0
        if args.json:
            print(json.dumps({"path": path, "text": text, "duration_s": round(len(audio) / 16000, 3),
                              "elapsed_s": round(elapsed, 3), "model": backend.name, "device": backend.device}),
                  flush=True)
        else:
            print(f"{path}: {text}" if len(args.paths) > 1 else text, flush=True)
    return 2 if failed else 0

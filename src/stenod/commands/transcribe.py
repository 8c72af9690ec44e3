"""`stenod transcribe`: offline transcription of audio files with the daemon's model and guards."""

from __future__ import annotations

import argparse
import json
import sys
import time


def register(sub) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files (WAV/FLAC/OGG, any rate; - = WAV on stdin)",
                       description="Transcribe audio files with the same model and decoding guards as the "
                                   "daemon. Any sample rate and channel count is resampled to 16 kHz mono.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  stenod transcribe --model bundled:tiny.en talk.wav\n"
                              '  stenod transcribe --beams 5 --vocabulary "Kubernetes, Nguyen" notes.flac')
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file, or - to read a WAV from stdin")
    add_model_args(p)
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line: path, text, duration_s, elapsed_s, model, device; with "
                        "speculative decoding also assistant_model and the assistant's acceptance counts")
    p.set_defaults(func=run)


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="hub id, local transformers directory, or bundled:tiny.en "
                        "(default: distil-whisper/distil-medium.en, falling back to bundled:tiny.en offline)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available, else CPU), cpu, cuda, cuda:N")
    g = p.add_argument_group("decoding")
    g.add_argument("--assistant-model", metavar="MODEL", default=None,
                   help="speculative decoding: this smaller model (same vocabulary, e.g. "
                        "distil-whisper/distil-medium.en for openai/whisper-medium.en) drafts tokens that the "
                        "model verifies; the text is the model's own greedy transcript")
    g.add_argument("--decoding", choices=("plain", "speculative"), default=None,
                   help="plain (one model) or speculative (default: speculative when --assistant-model is given; "
                        "speculative without it uses the published assistant of the model)")
    g.add_argument("--dtype", choices=("auto", "float32", "float16", "bfloat16"), default="auto",
                   help="weights and activations (default auto: float16 on CUDA, float32 on CPU)")
    g.add_argument("--attention", choices=("sdpa", "eager", "flash_attention_2"), default="sdpa",
                   help="attention kernels (default sdpa; flash_attention_2 needs the flash-attn package and CUDA)")
    g.add_argument("--static-cache", action="store_true", help="preallocated KV cache (plain decoding)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the decoder step, with a static cache and a warm-up (plain decoding)")
    g.add_argument("--beams", type=int, default=1, metavar="N", help="beam search with N beams (default 1: greedy)")
    g.add_argument("--vocabulary", metavar="WORDS", default="",
                   help='words and names to spell as given, comma-separated, e.g. "Kubernetes, Nguyen"')


def load_backend_or_fail(args):
    from stenod.asr.backend import BackendOptions, load_backend
    from stenod.asr.resolve import ModelError
    from stenod.cli import UserError

    assistant = getattr(args, "assistant_model", None)
    decoding = getattr(args, "decoding", None) or ("speculative" if assistant else "plain")
    if assistant and decoding == "plain":
        raise UserError("--assistant-model is for speculative decoding; drop --decoding plain")
    try:
        options = BackendOptions(device=args.device, dtype=getattr(args, "dtype", "auto"), decoding=decoding,
                                 assistant=assistant, attention=getattr(args, "attention", "sdpa"),
                                 compile=getattr(args, "compile", False),
                                 static_cache=getattr(args, "static_cache", False))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        backend = load_backend(args.model, options)
        if options.compile:
            backend.warm_up()
        return backend
    except ModelError as exc:
        raise UserError(str(exc)) from None


def run(args) -> int:
    from stenod.audio import AudioError, load_audio, split_windows

    from stenod.cli import UserError

    if not 1 <= args.beams <= 16:
        raise UserError(f"--beams: must be in 1..16, got {args.beams}")
    backend = load_backend_or_fail(args)
    vocabulary = tuple(w.strip() for w in args.vocabulary.split(",") if w.strip())
    prompt = backend.encode_prompt(vocabulary, "", 96) or None
    failed = 0
    for path in args.paths:
        t0 = time.perf_counter()
        try:
            audio = load_audio(sys.stdin.buffer.read() if path == "-" else path)
        except AudioError as exc:
            print(f"stenod: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        results = [backend.transcribe(w, prompt=prompt, beams=args.beams) for w in split_windows(audio)]
        text = " ".join(r.text for r in results if r.text)
        elapsed = time.perf_counter() - t0
        if args.json:
            row = {"path": path, "text": text, "duration_s": round(len(audio) / 16000, 3),
                   "elapsed_s": round(elapsed, 3), "model": backend.name, "device": backend.device}
            if backend.assistant_name is not None:
                row.update(assistant_model=backend.assistant_name, **_acceptance(results))
            print(json.dumps(row), flush=True)
        else:
            print(f"{path}: {text}" if len(args.paths) > 1 else text, flush=True)
    if backend.assistant_name is not None:
        st = backend.status()
        accepted, proposed = st["assistant_tokens_accepted"], st["assistant_tokens_proposed"]
        print(f"stenod: speculative decoding with {backend.assistant_name}: the model accepted {accepted} of "
              f"{proposed} draft tokens" + (f" ({accepted / proposed:.1%})" if proposed else ""),
              file=sys.stderr, flush=True)
    return 2 if failed else 0


def _acceptance(results) -> dict:
    proposed = sum(r.extra.get("assistant_tokens_proposed", 0) for r in results)
    accepted = sum(r.extra.get("assistant_tokens_accepted", 0) for r in results)
    return {"assistant_tokens_proposed": proposed, "assistant_tokens_accepted": accepted,
            "acceptance_rate": round(accepted / proposed, 4) if proposed else None}

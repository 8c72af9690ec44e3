"""`stenod transcribe`: offline transcription of audio files with the daemon's model and guards.

It reads the same configuration as every other command (the config file, then ``--set``, then its
own flags): the `[model]` section says which model and how it decodes, `[decode]` the final beam
width (`final_beams`), the vocabulary and the prompt length.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from stenod.asr.options import ATTENTIONS, DECODINGS, DTYPES
from stenod.commands.options import add_config_file_options, parse_sets

# Flags that set a config key (attribute -> section.key).
FLAGS = {"model": "model.name", "device": "model.device", "assistant_model": "model.assistant_model",
         "decoding": "model.decoding", "dtype": "model.dtype", "attention": "model.attention",
         "static_cache": "model.static_cache", "compile": "model.compile", "beams": "decode.final_beams",
         "vocabulary": "decode.vocabulary"}


def register(sub) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files (WAV/FLAC/OGG, any rate; - = WAV on stdin)",
                       description="Transcribe audio files with the same model, configuration and decoding "
                                   "guards as the daemon. Any sample rate and channel count is resampled to "
                                   "16 kHz mono.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  stenod transcribe --model bundled:tiny.en talk.wav\n"
                              '  stenod transcribe --beams 5 --vocabulary "Kubernetes, Nguyen" notes.flac\n'
                              "  stenod transcribe --set model.dtype=float16 --device cuda talk.wav")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file, or - to read a WAV from stdin")
    add_model_args(p)
    add_config_file_options(p, example="model.attention=eager")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line: path, text, duration_s, elapsed_s, model, device; with "
                        "speculative decoding also assistant_model and the assistant's acceptance counts")
    p.set_defaults(func=run)


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="hub id, local transformers directory, or bundled:tiny.en (default: [model] name, "
                        "distil-whisper/distil-medium.en, falling back to bundled:tiny.en offline)")
    p.add_argument("--device", default=None, help="auto (CUDA if available, else CPU), cpu, cuda, cuda:N "
                                                  "(default: [model] device)")
    g = p.add_argument_group("decoding (defaults: the [model] and [decode] config sections)")
    g.add_argument("--assistant-model", metavar="MODEL", default=None,
                   help="speculative decoding: this smaller model (same vocabulary, e.g. "
                        "distil-whisper/distil-medium.en for openai/whisper-medium.en) drafts tokens that the "
                        "model verifies; the text is the model's own greedy transcript")
    g.add_argument("--decoding", choices=DECODINGS, default=None,
                   help="plain (one model) or speculative (speculative when --assistant-model is given; "
                        "speculative without it uses the published assistant of the model)")
    g.add_argument("--dtype", choices=DTYPES, default=None,
                   help="weights and activations (auto: float16 on CUDA, float32 on CPU)")
    g.add_argument("--attention", choices=ATTENTIONS, default=None,
                   help="attention kernels (sdpa; flash_attention_2 needs the flash-attn package and CUDA)")
    g.add_argument("--static-cache", action="store_true", default=None, help="preallocated KV cache (plain decoding)")
    g.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the decoder step, with a static cache and a warm-up (plain decoding)")
    g.add_argument("--beams", type=int, default=None, metavar="N",
                   help="beam search with N beams, 1 = greedy (default: [decode] final_beams; 0 there picks "
                        "by device: 5 on CUDA, 1 on CPU)")
    g.add_argument("--vocabulary", metavar="WORDS", default=None,
                   help='words and names to spell as given, comma-separated, e.g. "Kubernetes, Nguyen"')


def load_settings(args):
    """The configuration (file, ``--set``, then the flags) and whether the model was named (only
    the default model falls back to the bundled one); raises UserError naming the key."""
    from stenod.asr.resolve import DEFAULT_MODEL
    from stenod.cli import UserError
    from stenod.config import ConfigError, apply_overrides, load_config

    if args.beams is not None and not 1 <= args.beams <= 16:
        raise UserError(f"--beams: must be in 1..16, got {args.beams}")
    overrides: dict[str, object] = dict(parse_sets(args.set))
    overrides.update({key: getattr(args, attr) for attr, key in FLAGS.items() if getattr(args, attr) is not None})
    if args.assistant_model and args.decoding is None:
        overrides["model.decoding"] = "speculative"
    try:
        cfg = apply_overrides(load_config(args.config), overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if cfg.model.assistant_model and cfg.model.decoding == "plain":
        raise UserError("--assistant-model is for speculative decoding; drop --decoding plain")
    return cfg, args.model is not None or cfg.model.name != DEFAULT_MODEL


def load_backend_or_fail(cfg, explicit: bool):
    """The backend the `[model]` section describes (warmed up when compiled); UserError otherwise."""
    from stenod.asr.backend import BackendOptions, load_backend
    from stenod.asr.resolve import ModelError
    from stenod.cli import UserError

    try:
        options = BackendOptions.from_config(cfg.model)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        backend = load_backend(cfg.model.name if explicit else None, options)
        if options.compile:
            backend.warm_up()
        return backend
    except ModelError as exc:
        raise UserError(str(exc)) from None


def run(args) -> int:
    from stenod.audio import AudioError, load_audio, split_windows
    from stenod.types import DecodeRequest

    cfg, explicit = load_settings(args)
    backend = load_backend_or_fail(cfg, explicit)
    beams = cfg.decode.beams_for(backend.device)
    prompt = tuple(backend.encode_prompt(cfg.decode.vocabulary, "", cfg.decode.prompt_tokens))
    failed = 0
    for path in args.paths:
        t0 = time.perf_counter()
        try:
            audio = load_audio(sys.stdin.buffer.read() if path == "-" else path)
        except AudioError as exc:
            print(f"stenod: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        results = [t for t in backend.transcribe_batch([DecodeRequest(w, prompt=prompt, beams=beams)
                                                        for w in split_windows(audio)]) if t is not None]
        text = " ".join(r.text for r in results if r.text)
        elapsed = time.perf_counter() - t0
        if args.json:
            row = {"path": path, "text": text, "duration_s": round(len(audio) / 16000, 3),
                   "elapsed_s": round(elapsed, 3), "model": backend.name, "device": backend.device}
            st = backend.status()
            if st.assistant_model is not None:
                row.update(assistant_model=st.assistant_model, **_acceptance(results))
            print(json.dumps(row), flush=True)
        else:
            print(f"{path}: {text}" if len(args.paths) > 1 else text, flush=True)
    st = backend.status()
    if st.assistant_model is not None:
        accepted, proposed = st.assistant_accepted, st.assistant_proposed
        print(f"stenod: speculative decoding with {st.assistant_model}: the model accepted {accepted} of "
              f"{proposed} draft tokens" + (f" ({accepted / proposed:.1%})" if proposed else ""),
              file=sys.stderr, flush=True)
    return 2 if failed else 0


def _acceptance(results) -> dict:
    proposed = sum(r.stats.assistant_proposed or 0 for r in results)
    accepted = sum(r.stats.assistant_accepted for r in results)
    return {"assistant_tokens_proposed": proposed, "assistant_tokens_accepted": accepted,
            "acceptance_rate": round(accepted / proposed, 4) if proposed else None}

"""`stenod run`: the daemon in the foreground (logs on stderr)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "run", help="run the dictation daemon in the foreground",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Capture audio, cut it into utterances, transcribe them and publish partial and final "
                    "text on the ZeroMQ bus (see `stenod tail`). Options override the config file "
                    "($XDG_CONFIG_HOME/stenod/config.toml).",
        epilog="examples:\n  stenod run --model bundled:tiny.en\n"
               "  stenod run --source file:talk.wav --exit-at-end\n"
               "  stenod run --source monitor          # what the desktop plays (PulseAudio/PipeWire)\n"
               "  stenod run --source me=mic --source them=monitor   # a meeting: two streams, one model\n"
               "  arecord -f S16_LE -r 16000 -c 1 | stenod run --source -\n"
               '  stenod run --vocabulary "Kubernetes, Nguyen" --final-beams 5\n'
               "  stenod run --remote http://gpu-host:8000 --token-file ~/serve.token   # decode on a service\n"
               "  stenod run --remote openai+http://localhost:8080/v1 --model Systran/faster-whisper-small")
    p.add_argument("--config", type=Path, help="config file (default: $XDG_CONFIG_HOME/stenod/config.toml)")
    p.add_argument("--source", action="append", metavar="[LABEL=]SOURCE",
                   help="mic (default input), mic:NAME|INDEX, monitor (the default output's monitor), "
                        "monitor:SINK, file:PATH, or - (raw s16le 16 kHz mono on stdin); repeat it with "
                        "labels for several streams in one daemon: --source me=mic --source them=monitor")
    p.add_argument("--speed", type=float, help="file replay speed: 1.0 = real time (default), 0 = as fast as "
                                               "the pipeline takes it")
    p.add_argument("--exit-at-end", action="store_true", default=None,
                   help="with a file or stdin: publish the last final, then exit 0")
    p.add_argument("--model", help="hub id, local directory or bundled:tiny.en "
                                   "(default distil-whisper/distil-medium.en, bundled:tiny.en offline)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--assistant-model", metavar="MODEL",
                   help="speculative decoding with this smaller model as the assistant (same vocabulary)")
    p.add_argument("--remote", metavar="URL",
                   help="decode on an inference service: http://host:port (stenod serve) or "
                        "openai+http://host/v1 (an OpenAI-compatible server); no local model is loaded")
    p.add_argument("--token-file", metavar="FILE",
                   help="the service's bearer token (default: where stenod serve keeps it)")
    p.add_argument("--events", metavar="ENDPOINT", help="ZeroMQ PUB endpoint (default ipc://$XDG_RUNTIME_DIR/stenod/events)")
    p.add_argument("--control", metavar="ENDPOINT", help="ZeroMQ control endpoint (default ipc://$XDG_RUNTIME_DIR/stenod/control)")
    g = p.add_argument_group("voice activity detection")
    g.add_argument("--vad-aggressiveness", type=int, choices=range(4), metavar="0-3",
                   help="webrtcvad aggressiveness (default 2)")
    g.add_argument("--onset-ms", type=int, help="voiced audio needed to start an utterance (default 90)")
    g.add_argument("--hangover-ms", type=int, help="silence that ends an utterance (default 360)")
    g.add_argument("--preroll-ms", type=int, help="audio kept before the onset (default 300)")
    g.add_argument("--max-utterance-s", type=float, help="split longer utterances at a pause (default 20)")
    d = p.add_argument_group("decoding")
    d.add_argument("--vocabulary", metavar="WORDS",
                   help='words and names to spell as given, comma-separated, e.g. "Kubernetes, Nguyen" '
                        "(decode.vocabulary)")
    d.add_argument("--final-beams", type=int, metavar="N",
                   help="beam width of the final decode; 0 = by device (CUDA 5, CPU 1)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any config key, e.g. --set stream.partial_interval_s=0.4 (repeatable)")
    p.set_defaults(func=run)


FLAGS = {"source": "source.source", "speed": "source.speed", "exit_at_end": "source.exit_at_end",
         "model": "model.name", "device": "model.device", "assistant_model": "model.assistant_model",
         "remote": "model.remote", "token_file": "model.token_file",
         "events": "sockets.events",
         "control": "sockets.control", "vad_aggressiveness": "vad.aggressiveness", "onset_ms": "vad.onset_ms",
         "hangover_ms": "vad.hangover_ms", "preroll_ms": "vad.preroll_ms",
         "max_utterance_s": "vad.max_utterance_s", "vocabulary": "decode.vocabulary",
         "final_beams": "decode.final_beams"}


def build_config(args):
    """Config file + command-line overrides, validated; raises UserError with the key's name."""
    from stenod.cli import UserError
    from stenod.commands.options import parse_sets
    from stenod.config import ConfigError, apply_overrides, load_config

    overrides = {key: getattr(args, attr) for attr, key in FLAGS.items() if getattr(args, attr) is not None}
    sources = overrides.pop("source.source", None)
    if sources is not None and len(sources) == 1:  # it replaces the config file's streams too
        overrides.update({"source.source": sources[0], "source.streams": ()})
    elif sources is not None:
        overrides["source.streams"] = tuple(sources)
    if args.assistant_model:
        overrides["model.decoding"] = "speculative"
    if overrides.get("source.speed") == 0:
        overrides["source.speed"] = float("inf")
    overrides.update(parse_sets(args.set))
    try:
        return apply_overrides(load_config(args.config), overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def run(args) -> int:
    from stenod.asr.resolve import DEFAULT_MODEL
    from stenod.cli import UserError
    from stenod.daemon.service import Daemon, ServiceError

    cfg = build_config(args)
    explicit = args.model is not None or cfg.model.name != DEFAULT_MODEL
    try:
        return Daemon(cfg, model_explicit=explicit, reload=lambda: _reload(args)).run()
    except ServiceError as exc:
        raise UserError(str(exc)) from None


def _reload(args):
    """The configuration again, for SIGHUP; raises ConfigError."""
    from stenod.cli import UserError
    from stenod.config import ConfigError

    try:
        return build_config(args)
    except UserError as exc:
        raise ConfigError(str(exc)) from None

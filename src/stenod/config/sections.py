"""The daemon's sections and the whole :class:`Config`, one field per ``[section]``."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from stenod.asr.options import Attention, Decoding, Dtype
from stenod.config.check import _check_positive, _check_types
from stenod.config.clients import CaptionsConfig, DictationConfig, WebConfig
from stenod.config.vad import VadConfig

ZMQ_TRANSPORTS = ("ipc", "tcp", "inproc")
REMOTE_SCHEMES = ("http", "https", "openai+http", "openai+https")
Fallback = Literal["none", "local"]

@dataclass(frozen=True)
class ModelConfig:
    """Which model to run, where, and how."""

    name: str = "distil-whisper/distil-medium.en"
    """Model id or local path."""
    device: str = "auto"
    """``auto`` (best available), ``cpu``, ``cuda``, ``cuda:1``, ..."""
    assistant_model: str | None = None
    """Draft model for speculative decoding; None lets the model resolver pick one."""
    decoding: Decoding = "plain"
    dtype: Dtype = "auto"
    attention: Attention = "sdpa"
    compile: bool = False
    """torch.compile the model (slower start, faster decode where supported)."""
    static_cache: bool = False
    """Use a static KV cache (pairs with ``compile``)."""
    remote: str | None = None
    """An inference service instead of a local model: ``http(s)://host:port`` (`stenod serve`'s
    native API) or ``openai+http(s)://host/v1`` (any OpenAI-compatible transcription API)."""
    token_file: str | None = None
    """The service's bearer token; None: where `stenod serve` keeps it (native API), none (OpenAI API)."""
    fallback: Fallback = "none"
    """``local``: decode with the local model (``name``) while the service is unreachable."""
    timeout_s: float = 15.0
    """Time limit of one request to the service."""
    retries: int = 2
    """Attempts after the first before the service is reported unreachable."""

    def __post_init__(self) -> None:
        _check_types(self)
        for name in ("name", "device"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name}: must not be empty")
        if self.assistant_model is not None and not self.assistant_model.strip():
            raise ValueError("assistant_model: must not be empty (leave it out for none)")
        _check_remote(self.remote)
        if self.token_file is not None and not self.token_file.strip():
            raise ValueError("token_file: must not be empty (leave it out for the default)")
        _check_positive("timeout_s", self.timeout_s)
        if not 0 <= self.retries <= 100:
            raise ValueError(f"retries: must be in 0..100, got {self.retries}")


def _check_remote(url: str | None) -> None:
    if url is None:
        return
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    if not sep or scheme not in REMOTE_SCHEMES or not host or host.startswith(":"):
        raise ValueError(f"remote: expected http://host:port (stenod serve) or openai+http://host/v1 "
                         f"(an OpenAI-compatible server), got {url!r}")


@dataclass(frozen=True)
class SourceConfig:
    """Where audio comes from and how it is buffered."""

    source: str = "mic"
    """``mic``, ``mic:<device>``, ``-`` for raw 16 kHz s16le on stdin, or an audio file path."""
    speed: float = 1.0
    """Playback speed for file sources (2.0 = twice real time, inf = as fast as possible)."""
    exit_at_end: bool = False
    """Exit once a file or stdin source is exhausted and its last final is published."""
    block_ms: int = 30
    """Capture block size."""
    ring_s: float = 60.0
    """Ring buffer length: how far the pipeline may fall behind (e.g. during model load)."""
    streams: tuple[str, ...] = ()
    """Several streams in one daemon, each ``LABEL=SOURCE`` (e.g. ``["me=mic", "them=monitor"]``);
    when set, it replaces ``source``."""

    def __post_init__(self) -> None:
        _check_types(self)
        if not self.source.strip():
            raise ValueError("source: must not be empty")
        labels = [_stream_label("streams", entry) for entry in self.streams]
        if len(set(labels)) != len(labels):
            raise ValueError(f"streams: labels must differ, got {', '.join(labels)}")
        _check_positive("speed", self.speed, allow_inf=True)
        if not 1 <= self.block_ms <= 1000:
            raise ValueError(f"block_ms: must be in 1..1000, got {self.block_ms}")
        _check_positive("ring_s", self.ring_s)
        if self.ring_s * 1000 < 2 * self.block_ms:
            raise ValueError(f"ring_s: must hold at least two blocks, got {self.ring_s}")


STREAM_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
"""A stream's label: a letter, then letters, digits, ``_`` or ``-`` (32 at most)."""


def _stream_label(name: str, entry: str) -> str:
    label, sep, source = entry.partition("=")
    if not sep or not STREAM_LABEL.fullmatch(label) or not source.strip():
        raise ValueError(f"{name}: expected LABEL=SOURCE (label: a letter, then letters, digits, _ or -), "
                         f"got {entry!r}")
    return label


def _check_endpoint(name: str, value: str | None) -> None:
    if value is None:
        return
    transport, sep, address = value.partition("://")
    if not sep or transport not in ZMQ_TRANSPORTS or not address:
        raise ValueError(f"{name}: expected a ZeroMQ endpoint such as ipc:///path or tcp://host:port, got {value!r}")


@dataclass(frozen=True)
class SocketsConfig:
    """ZeroMQ endpoints; None means the per-user default from :func:`default_endpoints`."""

    events: str | None = None
    control: str | None = None
    keys_dir: str | None = None
    """CURVE keys for tcp:// endpoints (``stenod keys generate``); None means
    ``$XDG_CONFIG_HOME/stenod/keys``. tcp:// endpoints are refused without them."""

    def __post_init__(self) -> None:
        _check_types(self)
        if self.keys_dir is not None and not self.keys_dir.strip():
            raise ValueError("keys_dir: must not be empty (leave it out for the default)")
        _check_endpoint("events", self.events)
        _check_endpoint("control", self.control)
        if self.events is not None and self.events == self.control:
            raise ValueError("control: must differ from events")


@dataclass(frozen=True)
class StreamConfig:
    """Publishing cadence."""

    partial_interval_s: float = 0.5
    """Minimum time between partial decodes of one utterance."""
    snapshot_finals: int = 200
    """Recent finals kept for catch-up snapshots."""
    heartbeat_s: float = 1.0
    max_batch: int = 8
    """The most decodes of different streams run as one batch (where the backend batches)."""

    def __post_init__(self) -> None:
        _check_types(self)
        _check_positive("partial_interval_s", self.partial_interval_s)
        _check_positive("heartbeat_s", self.heartbeat_s)
        if not 1 <= self.max_batch <= 1024:
            raise ValueError(f"max_batch: must be in 1..1024, got {self.max_batch}")
        if self.snapshot_finals < 0:
            raise ValueError(f"snapshot_finals: must be >= 0, got {self.snapshot_finals}")


@dataclass(frozen=True)
class JournalConfig:
    """The journal of finals: every final is appended (and fsync'd) before it is published."""

    enabled: bool = True
    dir: str | None = None
    """Directory of the journal; None means ``$XDG_STATE_HOME/stenod`` (``~/.local/state/stenod``)."""
    max_bytes: int = 8 * 1024 * 1024
    """Size at which the journal file is rotated."""
    keep: int = 4
    """Rotated files kept (``finals.1.jsonl`` is the newest)."""

    def __post_init__(self) -> None:
        _check_types(self)
        if self.dir is not None and not self.dir.strip():
            raise ValueError("dir: must not be empty (leave it out for the default)")
        if self.max_bytes < 4096:
            raise ValueError(f"max_bytes: must be at least 4096, got {self.max_bytes}")
        if not 0 <= self.keep <= 1000:
            raise ValueError(f"keep: must be in 0..1000, got {self.keep}")


@dataclass(frozen=True)
class DecodeConfig:
    """How utterances are decoded (partials stay greedy)."""

    final_beams: int = 0
    """Beam width of the final decode; 0 picks by device (CUDA 5, CPU 1: see docs/benchmarks.md)."""
    prompt: bool = True
    """Give Whisper the session's previous finals as context (its ``prompt_ids``)."""
    prompt_tokens: int = 96
    """At most this many tokens of previous text (and vocabulary) in the prompt (Whisper takes 223).
    Every decoder pass reads them: see docs/benchmarks.md for what 32 costs and saves."""
    prompt_reset_s: float = 20.0
    """A pause longer than this starts a new context: the previous finals are forgotten."""
    vocabulary: tuple[str, ...] = ()
    """Words and names to spell as given (always in the prompt), e.g. ["Kubernetes", "Nguyen"]."""

    def __post_init__(self) -> None:
        _check_types(self)
        if not 0 <= self.final_beams <= 16:
            raise ValueError(f"final_beams: must be in 0..16, got {self.final_beams}")
        if not 0 <= self.prompt_tokens <= 223:
            raise ValueError(f"prompt_tokens: must be in 0..223, got {self.prompt_tokens}")
        _check_positive("prompt_reset_s", self.prompt_reset_s, allow_inf=True)
        if any(not w.strip() for w in self.vocabulary):
            raise ValueError("vocabulary: words must not be empty")

    def beams_for(self, device: str) -> int:
        """The final decode's beam width on ``device``."""
        return self.final_beams or (5 if device.startswith("cuda") else 1)


@dataclass(frozen=True)
class Config:
    """The whole configuration; each field is one ``[section]`` of the file."""

    model: ModelConfig = field(default_factory=ModelConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    sockets: SocketsConfig = field(default_factory=SocketsConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    dictation: DictationConfig = field(default_factory=DictationConfig)
    captions: CaptionsConfig = field(default_factory=CaptionsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)


SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "source": SourceConfig,
    "vad": VadConfig,
    "sockets": SocketsConfig,
    "stream": StreamConfig,
    "dictation": DictationConfig,
    "captions": CaptionsConfig,
    "web": WebConfig,
    "decode": DecodeConfig,
    "journal": JournalConfig,
}

"""Daemon configuration: immutable dataclasses, a TOML loader, and command-line overrides.

The file (default ``$XDG_CONFIG_HOME/stenod/config.toml``) has one table per section::

    [model]
    name = "distil-whisper/distil-small.en"
    [vad]
    hangover_ms = 250

Every value is checked on the way in. Unknown sections and keys are errors rather than silently
ignored (a misspelt ``hangover`` would otherwise do nothing), and each error names the file, the
section and the key: ``config.toml: [vad] hangover_ms: expected an integer, got 'abc'``.

Overrides (``stenod --set vad.hangover_ms=250`` or dedicated flags) go through the same checks and
produce a new object with :func:`dataclasses.replace`; nothing is ever mutated.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stenod.asr.options import Attention, Decoding, Dtype
from stenod.daemon.segment import VadConfig

ZMQ_TRANSPORTS = ("ipc", "tcp", "inproc")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the file or override, section and key."""


def _check_positive(name: str, value: float, *, allow_inf: bool = False) -> None:
    if math.isnan(value) or value <= 0 or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name}: must be a positive number, got {value}")


def _check_types(obj: Any) -> None:
    """Type-check (and normalise int → float) every field of a section built directly in code."""
    for f in dataclasses.fields(obj):
        value = _coerce(_hints(type(obj))[f.name], getattr(obj, f.name), from_string=False, name=f.name)
        object.__setattr__(obj, f.name, value)


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

    def __post_init__(self) -> None:
        _check_types(self)
        for name in ("name", "device"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name}: must not be empty")
        if self.assistant_model is not None and not self.assistant_model.strip():
            raise ValueError("assistant_model: must not be empty (leave it out for none)")


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

    def __post_init__(self) -> None:
        _check_types(self)
        if not self.source.strip():
            raise ValueError("source: must not be empty")
        _check_positive("speed", self.speed, allow_inf=True)
        if not 1 <= self.block_ms <= 1000:
            raise ValueError(f"block_ms: must be in 1..1000, got {self.block_ms}")
        _check_positive("ring_s", self.ring_s)
        if self.ring_s * 1000 < 2 * self.block_ms:
            raise ValueError(f"ring_s: must hold at least two blocks, got {self.ring_s}")


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

    def __post_init__(self) -> None:
        _check_types(self)
        _check_positive("partial_interval_s", self.partial_interval_s)
        _check_positive("heartbeat_s", self.heartbeat_s)
        if self.snapshot_finals < 0:
            raise ValueError(f"snapshot_finals: must be >= 0, got {self.snapshot_finals}")


_COLOUR_NAME = re.compile(r"^(#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|[A-Za-z][A-Za-z0-9 ]*)$")


def _check_colour(name: str, value: str) -> None:
    if not _COLOUR_NAME.match(value):
        raise ValueError(f"{name}: expected a colour such as '#ffd700' or 'white', got {value!r}")


@dataclass(frozen=True)
class CaptionsConfig:
    """The caption overlay of ``stenod captions``."""

    font: str = "DejaVu Sans"
    size: int = 28
    """Font size in points."""
    position: Literal["bottom", "top", "center"] = "bottom"
    """Where on the screen, horizontally centred; dragging moves it from there."""
    margin: int = 48
    """Distance from the screen edge in pixels (for ``bottom`` and ``top``)."""
    width: float = 0.8
    """Width as a fraction of the screen width."""
    lines: int = 3
    """Text lines shown (finals above, the partial below)."""
    colour: str = "#ffffff"
    """Colour of finished text."""
    partial_colour: str = "#9a9a9a"
    """Colour of the partial that may still change."""
    background: str = "#101010"
    opacity: float = 0.85
    """Window opacity, 0.1..1 (needs a compositing window manager)."""
    fade_s: float = 6.0
    """Seconds a finished line stays before it fades out."""
    raise_ms: int = 500
    """How often the window is raised again (not every window manager honours "on top")."""
    stream: str | None = None
    """Show only this stream's events (events without a stream label are always shown)."""

    def __post_init__(self) -> None:
        _check_types(self)
        if not self.font.strip():
            raise ValueError("font: must not be empty")
        if not 6 <= self.size <= 200:
            raise ValueError(f"size: must be in 6..200, got {self.size}")
        if not 0 <= self.margin <= 2000:
            raise ValueError(f"margin: must be in 0..2000, got {self.margin}")
        if not 0.1 <= self.width <= 1.0:
            raise ValueError(f"width: must be in 0.1..1.0, got {self.width}")
        if not 1 <= self.lines <= 10:
            raise ValueError(f"lines: must be in 1..10, got {self.lines}")
        for name in ("colour", "partial_colour", "background"):
            _check_colour(name, getattr(self, name))
        if not 0.1 <= self.opacity <= 1.0:
            raise ValueError(f"opacity: must be in 0.1..1.0, got {self.opacity}")
        _check_positive("fade_s", self.fade_s)
        if not 50 <= self.raise_ms <= 60000:
            raise ValueError(f"raise_ms: must be in 50..60000, got {self.raise_ms}")
        if self.stream is not None and not self.stream.strip():
            raise ValueError("stream: must not be empty (leave it out for all streams)")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → ``(host, port)``; raises ValueError."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8765, got {value!r}")
    return host, int(port)


@dataclass(frozen=True)
class WebConfig:
    """The caption web server of ``stenod web``."""

    listen: str = "127.0.0.1:8765"
    """``HOST:PORT``; any host but 127.0.0.1, ::1 or localhost needs the access token."""
    token_file: str | None = None
    """Where the access token is kept (default ``$XDG_CONFIG_HOME/stenod/web-token``)."""

    def __post_init__(self) -> None:
        _check_types(self)
        try:
            parse_listen(self.listen)
        except ValueError as exc:
            raise ValueError(f"listen: {exc}") from None
        if self.token_file is not None and not self.token_file.strip():
            raise ValueError("token_file: must not be empty (leave it out for the default)")


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
class DictationConfig:
    """The dictation gate (what typing and clipboard clients act on) and spoken commands."""

    start: Literal["on", "off"] = "on"
    """Whether dictation is on when the daemon starts (``stenod toggle`` / ``ptt`` change it)."""
    commands: dict[str, str] = field(default_factory=dict)
    """Spoken commands for `stenod type`, added to (or overriding) the built-in table: the spoken
    phrase -> what to type instead (an empty string removes a built-in phrase). How the text joins
    its neighbours follows from it: closing marks attach to the word before, opening marks to the
    word after, whitespace ends the line; see :mod:`stenod.clients.spoken`."""
    backend: Literal["auto", "xdotool", "wtype", "ydotool", "paste"] = "auto"
    """How `stenod type` types: ``auto`` picks by session type, with a fallback chain."""
    paste_key: str = "auto"
    """The paste backend's key, e.g. ``ctrl+v``; ``auto``: Ctrl+Shift+V in terminals, else Ctrl+V."""
    end: str = " "
    """What `stenod type` types after each utterance (none after a spoken line break)."""

    def __post_init__(self) -> None:
        _check_types(self)
        for phrase in self.commands:
            if not phrase.strip():
                raise ValueError("commands: a spoken phrase must not be empty")
        if not self.paste_key.strip() or any(not p.strip() for p in self.paste_key.split("+")):
            raise ValueError(f"paste_key: expected a key combination such as ctrl+v, got {self.paste_key!r}")


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

# ------------------------------------------------------------------------------ type checks

_HINT_CACHE: dict[type, dict[str, Any]] = {}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("", "none", "null")


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINT_CACHE:
        _HINT_CACHE[cls] = typing.get_type_hints(cls)
    return _HINT_CACHE[cls]


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if isinstance(hint, types.UnionType):
        return " or ".join("none" if a is type(None) else _describe(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) is dict:
        return "a table of strings"
    if _is_str_tuple(hint):
        return "a list of strings"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[hint]


def _is_str_tuple(hint: Any) -> bool:
    """``tuple[str, ...]``: a list in TOML (immutable once loaded)."""
    return typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, ...)


def _str_list(value: Any, from_string: bool) -> tuple[str, ...] | None:
    """A TOML array of strings, or on the command line a JSON array or comma-separated words."""
    if from_string and isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                return None
        else:
            return tuple(w.strip() for w in text.split(",") if w.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _coerce(hint: Any, value: Any, *, from_string: bool, name: str) -> Any:
    """Check ``value`` against a field type, converting int → float and, for command-line
    overrides (``from_string``), text → the field's type. Raises ValueError naming the field."""
    if isinstance(hint, types.UnionType):  # only `X | None` is used
        if value is None or (from_string and isinstance(value, str) and value.strip().lower() in _NONE):
            return None
        (inner,) = (a for a in typing.get_args(hint) if a is not type(None))
        try:
            return _coerce(inner, value, from_string=from_string, name=name)
        except ValueError:
            raise ValueError(f"{name}: expected {_describe(hint)}, got {value!r}") from None
    ok = False
    if typing.get_origin(hint) is dict:  # only dict[str, str] is used
        if from_string and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError(f"{name}: expected {_describe(hint)} as JSON, e.g. '{{\"smiley\": \":-)\"}}', "
                                 f"got {value!r}") from None
        if not (isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
            raise ValueError(f"{name}: expected {_describe(hint)}, got {value!r}")
        return dict(value)
    if _is_str_tuple(hint):
        items = _str_list(value, from_string)
        if items is None:
            raise ValueError(f"{name}: expected {_describe(hint)}, got {value!r}")
        return items
    if typing.get_origin(hint) is Literal:
        ok = isinstance(value, str) and value in typing.get_args(hint)
    elif hint is bool:
        if from_string and isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            value, ok = value.strip().lower() in _TRUE, True
        else:
            ok = isinstance(value, bool)
    elif hint is int:
        if from_string and isinstance(value, str):
            try:
                value, ok = int(value.strip()), True
            except ValueError:
                pass
        else:
            ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        if from_string and isinstance(value, str):
            try:
                value, ok = float(value.strip()), True
            except ValueError:
                pass
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value, ok = float(value), True
    elif hint is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - a field type this module does not handle
        raise TypeError(f"unsupported config field type {hint!r}")
    if not ok:
        raise ValueError(f"{name}: expected {_describe(hint)}, got {value!r}")
    return value


def _build_section(section: str, current: Any, values: Mapping[str, Any], *, from_string: bool) -> Any:
    """``current`` with ``values`` applied; raises ValueError("key: problem")."""
    cls = SECTIONS[section]
    hints = _hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"{key}: unknown key (known: {', '.join(known)})")
        kwargs[key] = _coerce(hints[key], value, from_string=from_string and hints[key] is not str, name=key)
    return dataclasses.replace(current, **kwargs)


# ------------------------------------------------------------------------------ loading


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/stenod/config.toml``, falling back to ``~/.config`` (XDG rules:
    an empty or relative XDG_CONFIG_HOME is ignored)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):
        home = env.get("HOME") or str(Path.home())
        base = os.path.join(home, ".config")
    return Path(base) / "stenod" / "config.toml"


def config_from_dict(doc: Mapping[str, Any], source: str = "config") -> Config:
    """Build a :class:`Config` from parsed TOML; ``source`` prefixes error messages."""
    cfg = Config()
    for section, values in doc.items():
        if section not in SECTIONS:
            raise ConfigError(f"{source}: unknown section [{section}] (known: {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table, got {values!r}")
        try:
            new = _build_section(section, getattr(cfg, section), values, from_string=False)
        except ValueError as exc:
            raise ConfigError(f"{source}: [{section}] {exc}") from None
        cfg = dataclasses.replace(cfg, **{section: new})
    return cfg


def load_config(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Load the configuration file. With ``path=None`` the default file is used if it exists
    (defaults otherwise); a ``path`` that was named explicitly must exist."""
    explicit = path is not None
    path = Path(path) if path is not None else default_config_path(env)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{path}: no such config file") from None
        return Config()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return config_from_dict(doc, str(path))


def apply_overrides(cfg: Config, overrides: Mapping[str, Any]) -> Config:
    """Return ``cfg`` with ``{"section.key": value}`` overrides applied and validated.

    Values may be typed (``250``) or text as typed on a command line (``"250"``, ``"true"``,
    ``"none"`` for an optional value); text is converted to the field's type.
    """
    grouped: dict[str, dict[str, Any]] = {}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if section not in SECTIONS or not key:
            raise ConfigError(f"override {dotted!r}: expected section.key with a section among {', '.join(SECTIONS)}")
        grouped.setdefault(section, {})[key] = value
    for section, values in grouped.items():
        try:
            new = _build_section(section, getattr(cfg, section), values, from_string=True)
        except ValueError as exc:
            raise ConfigError(f"override {section}.{exc}") from None
        cfg = dataclasses.replace(cfg, **{section: new})
    return cfg


def to_toml(cfg: Config) -> str:
    """The configuration as TOML that :func:`load_config` reads back to an equal object
    (None values are written as comments, since TOML has no null)."""
    lines: list[str] = []
    for section in SECTIONS:
        lines.append(f"[{section}]")
        for f in dataclasses.fields(getattr(cfg, section)):
            value = getattr(getattr(cfg, section), f.name)
            if value is None:
                lines.append(f"# {f.name} = (unset)")
            elif isinstance(value, bool):
                lines.append(f"{f.name} = {'true' if value else 'false'}")
            elif isinstance(value, float) and math.isinf(value):
                lines.append(f"{f.name} = {'inf' if value > 0 else '-inf'}")
            elif isinstance(value, (int, float)):
                lines.append(f"{f.name} = {value!r}")
            elif isinstance(value, dict):
                items = ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {json.dumps(v, ensure_ascii=False)}"
                                  for k, v in value.items())
                lines.append(f"{f.name} = {{{items}}}")
            elif isinstance(value, tuple):
                lines.append(f"{f.name} = {json.dumps(list(value), ensure_ascii=False)}")
            else:
                lines.append(f"{f.name} = {json.dumps(value, ensure_ascii=False)}")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ endpoints


def runtime_dir(env: Mapping[str, str] | None = None) -> Path:
    """Directory for the daemon's sockets: ``$XDG_RUNTIME_DIR/stenod``, or ``/tmp/stenod-$UID``
    when XDG_RUNTIME_DIR is unset or empty. Creating it (mode 0700) is the publisher's job."""
    env = os.environ if env is None else env
    base = env.get("XDG_RUNTIME_DIR", "")
    if base:
        return Path(base) / "stenod"
    return Path(f"/tmp/stenod-{os.getuid()}")


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/stenod``, falling back to ``~/.local/state/stenod`` (XDG rules)."""
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(env.get("HOME") or str(Path.home()), ".local", "state")
    return Path(base) / "stenod"


def journal_dir(cfg: JournalConfig, env: Mapping[str, str] | None = None) -> Path:
    """Where the journal of finals lives: the configured directory or :func:`state_dir`."""
    return Path(cfg.dir).expanduser() if cfg.dir else state_dir(env)


def default_endpoints(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Default ``(events, control)`` endpoints: ipc sockets in :func:`runtime_dir`."""
    base = runtime_dir(env)
    return f"ipc://{base / 'events'}", f"ipc://{base / 'control'}"


def resolve_endpoints(sockets: SocketsConfig, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The ``(events, control)`` endpoints to use: configured ones, defaults for the rest."""
    events, control = default_endpoints(env)
    return sockets.events or events, sockets.control or control


__all__ = [
    "ConfigError", "ModelConfig", "SourceConfig", "VadConfig", "SocketsConfig", "StreamConfig", "DictationConfig",
    "CaptionsConfig", "WebConfig", "DecodeConfig", "JournalConfig", "parse_listen", "Config", "SECTIONS",
    "default_config_path", "config_from_dict", "load_config", "apply_overrides", "to_toml", "runtime_dir",
    "state_dir", "journal_dir", "default_endpoints", "resolve_endpoints",
]  # fmt: skip

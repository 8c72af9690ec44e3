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

from stenod.config.check import ConfigError
from stenod.config.clients import CaptionsConfig, DictationConfig, WebConfig, parse_listen
from stenod.config.files import apply_overrides, config_from_dict, default_config_path, load_config, to_toml
from stenod.config.paths import default_endpoints, journal_dir, resolve_endpoints, runtime_dir, state_dir
from stenod.config.sections import (
    SECTIONS, Config, DecodeConfig, JournalConfig, ModelConfig, SocketsConfig, SourceConfig,
    StreamConfig, VadConfig,
)  # fmt: skip

__all__ = [
    "ConfigError", "ModelConfig", "SourceConfig", "VadConfig", "SocketsConfig", "StreamConfig", "DictationConfig",
    "CaptionsConfig", "WebConfig", "DecodeConfig", "JournalConfig", "parse_listen", "Config", "SECTIONS",
    "default_config_path", "config_from_dict", "load_config", "apply_overrides", "to_toml", "runtime_dir",
    "state_dir", "journal_dir", "default_endpoints", "resolve_endpoints",
]  # fmt: skip

"""Loading: the TOML file, ``--set`` overrides, and writing a configuration back as TOML."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stenod.config.check import ConfigError, _coerce, _hints
from stenod.config.sections import SECTIONS, Config


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

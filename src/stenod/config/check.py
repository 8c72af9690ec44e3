"""Type checks of configuration values: each value against its field's type, with errors that name
the key."""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, Literal


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

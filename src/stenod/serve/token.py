"""The bearer token of `stenod serve`: generated at first use, stored 0600 where a daemon of the
same user finds it (``$XDG_CONFIG_HOME/stenod/serve.token``), so one machine needs no setup."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path


class TokenError(RuntimeError):
    """The token file is missing, empty or readable by others; the message says what to do."""


def token_path(env: Mapping[str, str] | None = None) -> Path:
    from stenod.config import default_config_path

    return default_config_path(env).parent / "serve.token"


def read_token(path: Path) -> str:
    """The token in `path`; refuses a file others may read (it is a password)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except FileNotFoundError:
        raise TokenError(f"no token file at {path}: start `stenod serve` once as this user, or pass --token-file") from None
    except OSError as exc:
        raise TokenError(f"cannot read the token file {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise TokenError(f"{path} may be read by other users: chmod 600 {path}")
    if not text:
        raise TokenError(f"the token file {path} is empty")
    return text


def load_or_create_token(path: Path) -> str:
    """The token in `path`, written there first (0600, directory 0700) when there is none."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    return read_token(path)

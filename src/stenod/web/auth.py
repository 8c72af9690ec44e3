"""The access token of ``stenod web``: when it is needed, where it lives, how a request shows it.

Listening on the loopback address alone (127.0.0.1, ::1, localhost) needs no token: only this
machine's users can connect. Any other address does. The token is made at first use from
:func:`secrets.token_urlsafe` and kept in a file only its owner can read (mode 0600, written
atomically, never widened), by default ``$XDG_CONFIG_HOME/stenod/web-token``. A request carries it
as ``?token=...`` (what a browser source URL can hold) or ``Authorization: Bearer ...``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
TOKEN_BYTES = 24


class TokenError(OSError):
    """The token file cannot be read or written, or is open to other users."""


def needs_token(host: str) -> bool:
    """True unless ``host`` is this machine's own loopback address."""
    return host not in LOCAL_HOSTS


def default_token_path(env: Mapping[str, str] | None = None) -> Path:
    """``web-token`` beside the config file (``$XDG_CONFIG_HOME/stenod/``)."""
    from stenod.config import default_config_path

    return default_config_path(env).with_name("web-token")


def load_or_create_token(path: Path) -> str:
    """The token in ``path``, made (mode 0600) if the file does not exist yet."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return _create(path)
    except OSError as exc:
        raise TokenError(f"{path}: cannot read the web token: {exc.strerror or exc}") from None
    if mode & 0o077:
        raise TokenError(f"{path}: the web token file is readable by other users (mode {mode & 0o777:o}); "
                         f"run `chmod 600 {path}` or delete it to make a new token")
    try:
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"{path}: cannot read the web token: {exc}") from None
    if not token:
        raise TokenError(f"{path}: the web token file is empty; delete it to make a new token")
    return token


def _create(path: Path) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(token + "\n")
        os.link(tmp, path)  # fails if another process made the file meanwhile: then use theirs
    except FileExistsError:
        return load_or_create_token(path)
    except OSError as exc:
        raise TokenError(f"{path}: cannot write the web token: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return token


def presented_token(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The token a request carries: ``?token=`` or an ``Authorization: Bearer`` header."""
    if "token" in query:
        return query["token"]
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def token_ok(expected: str, presented: str | None) -> bool:
    """Constant-time comparison, so response times do not leak the token."""
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())


__all__ = ["LOCAL_HOSTS", "TokenError", "needs_token", "default_token_path", "load_or_create_token",
           "presented_token", "token_ok"]

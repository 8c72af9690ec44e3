"""Building the daemon's remote backend from the ``[model]`` section: which API the URL names,
the token, the fallback. Errors are `RemoteError`s meant for the user."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

from stenod.asr.api import BackendLoader
from stenod.config import ModelConfig
from stenod.remote.backend import RemoteBackend
from stenod.remote.link import Link, RemoteError
from stenod.serve.token import TokenError, read_token, token_path

OPENAI_PREFIX = "openai+"


def load_remote(m: ModelConfig, on_change: Callable[[dict], None], local: BackendLoader) -> RemoteBackend:
    """The remote backend for ``m.remote``, warmed up (the service answered, or the fallback is
    loaded); `local` loads the local model for ``fallback = "local"``."""
    assert m.remote is not None
    openai = m.remote.startswith(OPENAI_PREFIX)
    url = m.remote[len(OPENAI_PREFIX):] if openai else m.remote
    if m.fallback == "local" and importlib.util.find_spec("torch") is None:
        raise RemoteError("fallback = \"local\" needs the local model stack: pip install 'stenod[local]'")
    link = Link(url, _token(m, openai), m.timeout_s, m.retries)
    if openai:
        from stenod.remote.openai import OpenAiApi

        api = OpenAiApi(link, m.name)
    else:
        from stenod.remote.native import NativeApi

        api = NativeApi(link)
    backend = RemoteBackend(link, api, on_change, local if m.fallback == "local" else None)
    backend.warm_up()
    return backend


def _token(m: ModelConfig, openai: bool) -> str | None:
    """The token from ``token_file``; else, for the native API, where `stenod serve` keeps it."""
    if m.token_file is None and openai:
        return None
    path = Path(m.token_file).expanduser() if m.token_file else token_path(os.environ)
    try:
        return read_token(path)
    except TokenError as exc:
        raise RemoteError(f"token_file: {exc}") from None

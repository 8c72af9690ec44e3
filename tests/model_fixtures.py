"""Fixtures around the bundled model: a private, hermetic cache converted once per test run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STENOD = [sys.executable, "-m", "stenod"]


@pytest.fixture(scope="session")
def stenod_env(tmp_path_factory) -> dict:
    """Environment for stenod subprocesses: private caches, Hugging Face hub offline."""
    root = tmp_path_factory.mktemp("stenod-home")
    env = dict(os.environ)
    env.update({"XDG_CACHE_HOME": str(root / "cache"), "XDG_CONFIG_HOME": str(root / "config"),
                "XDG_STATE_HOME": str(root / "state"),
                "HF_HOME": str(root / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    return env


@pytest.fixture(scope="session")
def bundled_model(stenod_env) -> Path:
    """The bundled tiny.en converted into the session's private cache (via the real CLI)."""
    import subprocess

    out = subprocess.run(STENOD + ["models", "convert"], env=stenod_env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip().split(": ", 1)[1])
    assert (path / "model.safetensors").is_file()
    return path


@pytest.fixture(scope="session")
def offline_results(corpus, stenod_env, bundled_model) -> dict:
    """`stenod transcribe --json` over every corpus clip and noise file, once: path -> result."""
    import json
    import subprocess

    paths = [c["path"] for c in corpus.clips] + [n["path"] for n in corpus.noise]
    out = subprocess.run(STENOD + ["transcribe", "--model", "bundled:tiny.en", "--json", *paths],
                         env=stenod_env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return {r["path"]: r for r in map(json.loads, out.stdout.splitlines())}

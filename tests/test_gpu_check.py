"""scripts/gpu-check.sh and what the GPU machine needs: no GPU here, so the script must say so and
exit 0; its dry run (GPU_CHECK_CPU=1) runs every step scaled down on the CPU, so a broken step is
found here rather than in scarce GPU time; and stenod imports and decodes without sounddevice
(the GPU machine has no PortAudio and no microphone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_fixtures import REPO

SCRIPT = REPO / "scripts" / "gpu-check.sh"
BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice" or name.startswith("_sounddevice"):
            raise ImportError("No module named 'sounddevice' (blocked)")
sys.meta_path.insert(0, Block())
"""


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _run(out: Path, **env):
    return subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable, **env})


@pytest.mark.skipif(_cuda(), reason="this machine has a GPU")
def test_without_a_gpu_it_says_so_and_exits_0(tmp_path):
    r = _run(tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "no GPU here" in r.stderr
    assert "skipped" in (tmp_path / "out" / "summary.md").read_text()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["log.txt", "summary.md"]


def test_dry_run_runs_every_step(tmp_path):
    from stenod.asr.gpubench import BenchResult

    out = tmp_path / "out"
    r = _run(out, GPU_CHECK_CPU="1")
    assert r.returncode == 0, r.stderr + (out / "log.txt").read_text()
    summary = (out / "summary.md").read_text()
    assert "All steps passed." in summary and "| batch | one by one (ms) |" in summary
    assert "decode path imported without sounddevice" in (out / "log.txt").read_text()
    bench = BenchResult.from_json((out / "gpubench.json").read_text())
    assert set(bench.models) == {"whisper-medium.en", "distil-medium.en"}
    assert all(m.encoder_ms > 0 and m.decoder_ms_per_token["eager"] > 0 for m in bench.models.values())
    rows = [json.loads(x) for x in (out / "batch-distil-medium.jsonl").read_text().splitlines() if x.startswith("{")]
    assert [x["batch"] for x in rows] == [1, 2] and all(x["batched_ms"] > 0 for x in rows)
    capacity = json.loads((out / "capacity-distil-medium.json").read_text())
    assert 1 <= capacity["capacity"] <= 2 and capacity["runs"][0]["finals"] >= 1
    static = json.loads((out / "capacity-distil-medium-static.json").read_text())
    assert static["runs"][0]["static_cache"] is True and static["runs"][0]["finals"] >= 1
    assert "Capacity **" in summary and "One run of 1 streams" in summary
    assert len(list(out.iterdir())) <= 8  # what the device tool brings back


def test_decode_path_runs_without_sounddevice(corpus, stenod_env, bundled_model):
    clip = corpus.clips[0]
    code = BLOCK + f"""
try:
    import sounddevice
except ImportError:
    pass
else:
    raise SystemExit("the block did not work")
import stenod.daemon.service, stenod.daemon.infer, stenod.asr.batch
from stenod.cli import main
sys.exit(main(["transcribe", "--model", "bundled:tiny.en", {clip['path']!r}]))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=stenod_env)
    assert r.returncode == 0, r.stderr
    words = clip["text"].lower().split()
    assert sum(w.strip(".,") in r.stdout.lower() for w in words) >= len(words) // 2

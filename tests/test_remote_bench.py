"""`stenod bench --remote`: the local and the remote streaming pass in one run (the real daemon,
the bundled model behind the tests' stand-in service, a corpus subset)."""

from __future__ import annotations

import json
import subprocess

import pytest

from model_fixtures import STENOD
from remote_fixtures import remote_service  # noqa: F401
from stenod.bench.corpus import load_corpus, write_subset
from stenod.bench.report import schema_errors


@pytest.mark.slow
def test_bench_local_against_remote(corpus, stenod_env, remote_service, tmp_path):
    sub = write_subset(load_corpus(corpus.dir), tmp_path / "corpus", clips=0, utterances=6, noise=[])
    out = subprocess.run(STENOD + ["bench", str(sub), "--model", "bundled:tiny.en", "--skip-offline",
                                   "--idle-s", "2", "--remote", remote_service.url,
                                   "--json", str(tmp_path / "b.json")],
                         env=stenod_env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    r = json.loads((tmp_path / "b.json").read_text())
    assert schema_errors(r) == []
    rem = r["remote"]
    assert rem["url"] == remote_service.url and rem["device"].startswith("remote:")
    assert r["streaming"]["finals"] == rem["streaming"]["finals"] == 6
    assert rem["streaming"]["wer"] == r["streaming"]["wer"]  # same model, same audio: same text
    assert r["streaming"]["latency_excluded"] < 6, r["streaming"]  # speech while the model loads is not timed
    ratio = rem["overhead"]["final_latency_p50_ratio"]
    assert ratio == pytest.approx(rem["streaming"]["final_latency_ms"]["p50"] / r["streaming"]["final_latency_ms"]["p50"],
                                  rel=0.01)
    assert "remote/local" in out.stdout and remote_service.url in out.stdout

"""`stenod bench --streams N`: N offset copies of a corpus subset as real-time file streams into one
daemon (real model), its JSON schema and per-stream scores; the capacity search's steps (unit)."""

from __future__ import annotations

import json
import subprocess

from model_fixtures import STENOD
from stenod.bench.corpus import load_corpus, write_subset
from stenod.bench.multistream import MULTI_SCHEMA, find_capacity
from stenod.bench.report import schema_errors


def test_two_streams_into_one_daemon(corpus, stenod_env, bundled_model, tmp_path):
    sub = write_subset(load_corpus(corpus.dir), tmp_path / "corpus", clips=1, utterances=3, noise=[])
    out = subprocess.run(STENOD + ["bench", str(sub), "--model", "bundled:tiny.en", "--streams", "2",
                                   "--offset-s", "1.5", "--json", str(tmp_path / "m.json"), "--quiet"],
                         env=stenod_env, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr
    r = json.loads((tmp_path / "m.json").read_text())
    assert schema_errors(r, MULTI_SCHEMA) == []
    assert r["streams"] == 2 and [s["label"] for s in r["per_stream"]] == ["s1", "s2"]
    for s in r["per_stream"]:
        assert s["utterances"] == 3 and s["missing"] == 0 and s["wer"] <= 30, s
        assert 0 < s["final_latency_ms"]["p50"] <= s["final_latency_ms"]["p95"] < 60_000
    assert "[s1] WER" in out.stdout and "[s2] WER" in out.stdout


def test_bad_streams_options_are_refused(stenod_env, tmp_path):
    for args, message in ((["--streams", "0"], "--streams must be >= 1"),
                          (["--streams", "2", "--find-capacity"], "exclude each other")):
        out = subprocess.run(STENOD + ["bench", str(tmp_path), *args], env=stenod_env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 2 and message in out.stderr, out.stderr


def fake_result(p95):
    return {"final_latency_ms": {"p50": p95, "p95": p95, "max": p95}, "per_stream": [{"finals": 1}]}


def test_capacity_search_doubles_then_bisects():
    tried = []

    def run(n):  # keeps up up to 11 streams
        tried.append(n)
        return fake_result(1000.0 if n <= 11 else 2500.0)

    said = []
    result = find_capacity(run, said.append)
    assert result["capacity"] == 11
    assert tried == [1, 2, 4, 8, 16, 12, 10, 11]
    assert len(said) == len(tried) and "keeps up" in said[0]
    assert find_capacity(lambda n: fake_result(None), said.append)["capacity"] == 0

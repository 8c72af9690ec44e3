"""`stenod models capacity`: the multi-stream capacity search through the real inference worker and
scheduler, on random weights of a scaled-down architecture (the CPU check of what the GPU check
runs at full size)."""

from __future__ import annotations

import json
import subprocess
import sys

from stenod.bench.capacity_synth import SYNTH_SCHEMA, schedule
from stenod.bench.report import schema_errors


def _capacity(tmp_path, *args):
    out = tmp_path / "cap.json"
    r = subprocess.run([sys.executable, "-m", "stenod", "models", "capacity", "--size", "tiny", "--device", "cpu",
                        "--tokens", "4", "--duration", "7", "--json", str(out), *args],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r, json.loads(out.read_text())


def test_the_search_finds_a_finite_capacity_with_its_schema(tmp_path):
    r, found = _capacity(tmp_path, "--max-streams", "2")
    assert found["goal_p95_ms"] == 1500.0 and "random weights" in found["measured"]
    assert 1 <= found["capacity"] <= 2
    assert [run["streams"] for run in found["runs"]][:2] == [1, 2][:len(found["runs"])]
    for run in found["runs"]:
        assert schema_errors(run, SYNTH_SCHEMA) == []
        assert run["model"] == "random:distil-medium.en(tiny)" and run["tokens"] == 4
        assert [s["label"] for s in run["per_stream"]] == [f"s{k + 1}" for k in range(run["streams"])]
        # Every utterance got its final through the worker, after its speech ended.
        assert run["finals"] == run["utterances"] and run["missing"] == 0
        assert run["decodes"] >= run["finals"] and sum(run["batch_sizes"].values()) >= 1
        assert 0 < run["final_latency_ms"]["p50"] <= run["final_latency_ms"]["p95"] <= 1500
    assert f"Capacity **{found['capacity']} streams**" in r.stdout


def test_one_run_with_the_static_cache(tmp_path):
    _, found = _capacity(tmp_path, "--streams", "1", "--static-cache")
    assert found["capacity"] is None  # one run, no search
    (run,) = found["runs"]
    assert run["static_cache"] is True and run["finals"] == run["utterances"] >= 1
    assert set(run["batch_sizes"]) == {"1"}  # a static cache decodes one by one


def test_every_stream_speaks_within_a_short_run():
    plans = [schedule(k, 8, 7.0) for k in range(8)]
    assert all(plans) and all(u.end <= 7 * 16000 for p in plans for u in p)
    assert all(3 * 16000 <= u.end - u.start <= 6 * 16000 for p in plans for u in p)
    assert len({p[0].start for p in plans}) == 8  # offset across streams


def test_bad_arguments_are_refused(tmp_path):
    r = subprocess.run([sys.executable, "-m", "stenod", "models", "capacity", "--duration", "3"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--duration" in r.stderr
    import torch

    if not torch.cuda.is_available():
        r = subprocess.run([sys.executable, "-m", "stenod", "models", "capacity", "--device", "cuda"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and "no GPU available" in r.stderr


def test_the_search_can_start_above_one():
    from stenod.bench.multistream import find_capacity

    def result(n, capacity):
        p95 = 500.0 if n <= capacity else 3000.0
        return {"final_latency_ms": {"p50": p95, "p95": p95, "max": p95}, "per_stream": [{"finals": 1}] * n}

    for capacity, tried in ((6, [4, 6, 7, 8]), (2, [2, 3, 4]), (0, [1, 2, 4])):
        found = find_capacity(lambda n, c=capacity: dict(result(n, c), streams=n), lambda _m: None, 64, start=4)
        assert found["capacity"] == capacity and [r["streams"] for r in found["runs"]] == tried

"""`stenod bench`: scoring rules on synthetic events, the JSON schema, and two real runs of the
CLI (the real daemon, the bundled model) on a small corpus subset: a good one, and one with a
model that outputs nothing, which must give a WER of 100 rather than a crash."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from model_fixtures import STENOD
from stenod.bench.corpus import Span, StreamPlan, build_stream, load_corpus, write_subset
from stenod.bench.metrics import normalize, wer
from stenod.bench.report import SCHEMA, Progress, format_report, num, schema_errors
from stenod.bench.resources import CLOCK_TICKS, OtherLoad, ProcSampler, cpu_ticks, peak_rss_kb
from stenod.bench.score import Arrival, score_stream

# ------------------------------------------------------------------------------ scoring rules

MS = 1_000_000  # ns


def _plan(utts, noise=(), nonspeech=(), idle=None, duration=60.0) -> StreamPlan:
    return StreamPlan(Path("x.wav"), duration,
                      tuple(Span("utterance", a, b, "", t) for a, b, t in utts),
                      tuple(Span("nonspeech", a, b) for a, b in nonspeech),
                      tuple(Span("noise", a, b, k) for a, b, k in noise), (), idle)


def _final(utt, text, start, end, recv_s, **timings):
    return Arrival(utt, text, start, end, int(recv_s * 1e9), True, timings)


def _partial(utt, text, start, end, recv_s):
    return Arrival(utt, text, start, end, int(recv_s * 1e9), False)


def test_score_matches_finals_by_audio_span():
    plan = _plan([(1.0, 3.0, "red green blue"), (5.0, 7.0, "cat dog"), (9.0, 10.0, "bird"),
                  (12.0, 14.0, "apple pear plum fig")],
                 noise=[(20.0, 25.0, "white")], nonspeech=[(16.0, 16.4)])
    arrivals = [
        _partial(0, "red", 0.7, 2.0, 2.3),
        _final(0, "Red, green, blue.", 0.7, 3.2, 3.5),  # 500 ms after the true end
        _final(1, "Cat dog bird.", 4.7, 10.2, 10.8),  # merges utterances 1 and 2
        _final(3, "Apple pear", 11.7, 13.0, 13.3),  # splits utterance 3 ...
        _final(4, "plum fig", 13.1, 14.2, 14.9),  # ... in two
        _final(5, "You", 16.0, 16.6, 17.0),  # a nonspeech burst
        _final(6, "Thank you.", 21.0, 24.0, 24.5),  # a noise file
        _final(7, "", 30.0, 31.0, 31.2),  # a retraction: no words, no match
    ]
    s = score_stream(plan, arrivals, origin_ns=0, speed=1.0, ready_ns=int(0.5e9))
    assert [u.status for u in s.utterances] == ["ok", "merged", "merged", "split"]
    assert (s.missing, s.merged, s.split) == (0, 1, 1)
    assert s.errors == 0 and s.ref_words == 10 and s.wer == 0.0
    assert s.utterances[1].hyp == s.utterances[2].hyp == "Cat dog bird."
    assert [f.kind for f in s.finals] == ["speech"] * 4 + ["nonspeech", "noise", "retracted"]
    assert (s.nonspeech_words, s.noise_words, s.noise_words_by_kind()) == (1, 2, {"white": 2})
    lat = [round(u.final_latency_ms) for u in s.utterances]
    assert lat == [500, 3800, 800, 900]  # a merged or split utterance waits for its closing final
    assert round(s.utterances[0].first_partial_ms) == 1300
    assert round(s.utterances[1].first_partial_ms) == 5800  # no partial: the final is the first text
    assert s.latency_excluded == 0


def test_score_missing_utterances_wrong_words_speed_and_startup():
    plan = _plan([(1.0, 2.0, "alpha beta"), (4.0, 6.0, "gamma delta"), (8.0, 9.0, "epsilon")])
    origin = 100 * 10**9
    arrivals = [  # at speed 2, stream second t is due at origin + t / 2
        _final(1, "gamma delta", 3.7, 6.2, 100 + 3.0 + 0.4, endpoint_mono_ns=origin + int(3.2e9),
               inference_ms=150.0, early_decode=True, decode_start_mono_ns=origin + int(3.0e9),
               end_reason="sentence"),
        _final(2, "epsilon zeta", 7.7, 9.2, 100 + 4.5 + 0.3, early_decode=False),
    ]
    s = score_stream(plan, arrivals, origin_ns=origin, speed=2.0, ready_ns=origin + int(1.5e9))
    assert [u.status for u in s.utterances] == ["missing", "ok", "ok"]
    assert s.errors == 2 + 0 + 1 and s.ref_words == 5  # deletions of the missing one, one insertion
    assert s.wer == pytest.approx(60.0)
    assert s.utterances[0].before_ready and s.latency_excluded == 1  # it ended 1.0 s (wall) after the origin, the daemon was ready at 1.5 s
    assert [round(x) for x in s.final_latencies] == [400, 300]  # wall ms
    assert s.breakdown["true_end_to_endpoint_ms_p50"] == pytest.approx(200.0)
    assert s.breakdown["endpoint_to_received_ms_p50"] == pytest.approx(200.0)
    assert s.breakdown["early_decode_share"] == 0.5
    assert s.breakdown["true_end_to_decode_start_ms_p50"] == pytest.approx(0.0)  # the final decode's budget
    assert s.breakdown["decode_end_to_endpoint_ms_p50"] == pytest.approx(50.0)
    assert s.breakdown["sentence_end_share"] == 1.0


def test_score_with_no_finals_at_all():
    plan = _plan([(1.0, 2.0, "alpha beta")])
    s = score_stream(plan, [], origin_ns=0, speed=1.0)
    assert s.wer == 100.0 and s.missing == 1 and s.final_latencies == [] and s.first_partials == []


# ---------------------------------------------------------------------- metrics and resources


def test_normalization_maps_numbers_punctuation_and_spellings():
    assert normalize("Our neighbours' grey cat, twenty-five colours!") == "our neighbors gray cat 25 colors"
    assert normalize("She organised the centre's catalogue.") == "she organized the center is catalog"
    assert wer(["The shy gray cat."], ["the shy grey cat"]) == 0.0


def test_proc_sampler_measures_cpu_of_a_busy_process():
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<1.5: pass"])
    try:
        sampler = ProcSampler(proc.pid)
        t0 = time.monotonic_ns()
        while proc.poll() is None:
            sampler.sample()
            time.sleep(0.1)
        pct, seconds = sampler.cpu_pct(t0 + 300 * MS, t0 + 1300 * MS)
    finally:
        proc.kill()
        proc.wait()
    assert seconds > 0.5 and 20 < pct <= 100 * (os.cpu_count() or 1) + 10
    assert sampler.peak_rss_mb is not None and sampler.peak_rss_mb > 1
    ticks = cpu_ticks(os.getpid())
    spin_until = time.process_time() + 0.3
    while time.process_time() < spin_until:
        pass
    assert cpu_ticks(os.getpid()) >= ticks + 0.2 * CLOCK_TICKS and peak_rss_kb(os.getpid()) > 0
    assert cpu_ticks(2**22 + 12345) is None
    load = OtherLoad()  # a busy process not (yet) waited for is another's load
    other = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<1.5: pass"])
    try:
        time.sleep(1.0)
        assert load.pct() > 20
    finally:
        other.kill()
        other.wait()


# ------------------------------------------------------------------------------ report, schema


def _result(**changes):
    r = {"model": "m", "device": "cpu", "assistant_model": None,
         "offline": {"wer": 4.0, "clips": 3, "median_s": 0.5, "rtf": 0.1},
         "streaming": {"wer": 5.0, "utterances": 3, "finals": 3,
                       "final_latency_ms": {"p50": 500.0, "p95": 600.0, "max": 700.0},
                       "first_partial_ms": {"p50": 900.0, "p95": 1000.0}, "hallucinated_words": 0},
         "noise": {"files": 1, "words": 0},
         "resources": {"idle_cpu_pct": 1.0, "peak_rss_mb": 500.0, "ready_s": 3.0}}
    r.update(changes)
    return r


def test_schema_errors_name_what_is_wrong():
    assert schema_errors(_result()) == []
    assert schema_errors(_result(model=None)) == ["model: expected str, got None"]
    bad = _result()
    del bad["streaming"]["final_latency_ms"]["p95"]
    bad["noise"]["words"] = "0"
    bad["resources"]["ready_s"] = None  # not measured: allowed
    assert schema_errors(bad) == ["streaming.final_latency_ms.p95: missing", "noise.words: expected int, got '0'"]
    assert set(SCHEMA) == {"model", "device", "assistant_model", "offline", "streaming", "noise", "resources"}


def test_report_table_and_progress():
    table = format_report(_result())
    assert "WER 4.00 %" in table and "p50 500 ms" in table and "idle CPU 1.00 %" in table
    assert "warning" not in table
    busy = _result()
    busy["resources"]["other_load_pct"] = 85.0
    assert "warning: other processes used 85 % of a core" in format_report(busy)
    assert num(float("nan")) is None and num(1.23456, 2) == 1.23
    assert "per utterance" not in table  # no details, no status line
    utts = [{"index": i, "start": 1.0 + 4 * i, "end": 3.0 + 4 * i, "ref": f"ref {i}", "hyp": f"hyp {i}",
             "status": st} for i, st in enumerate(["ok", "merged", "merged", "split", "missing"])]
    table = format_report(_result(details={"utterances": utts}))
    assert "per utterance      . M M S _" in table
    assert "#3 split   13.00-15.00 s  ref: ref 3  hyp: hyp 3" in table and "#0 " not in table
    out = io.StringIO()
    p = Progress(out, interval_s=3600)
    for i in range(5):
        p(f"offline {i}/5 clips")
    p("streaming 1 s / 10 s")
    p.line("done")
    assert out.getvalue().splitlines() == ["offline 0/5 clips", "streaming 1 s / 10 s", "done"]


# ------------------------------------------------------------------------- corpus and stream


def test_subset_and_stream_plan(corpus, tmp_path):
    full = load_corpus(corpus.dir)
    sub = load_corpus(write_subset(full, tmp_path / "sub", clips=2, utterances=4, noise=["silence"]))
    assert [c.id for c in sub.clips] == [c.id for c in full.clips[:2]]
    assert sub.sessions[0].utterances == full.sessions[0].utterances[:4]
    assert all(b <= sub.sessions[0].utterances[-1].end + 2 for _, b in sub.sessions[0].nonspeech)
    assert [n.kind for n in sub.noise] == ["silence"]
    plan = build_stream(sub, tmp_path / "stream.wav", gap_s=1.0, idle_s=10.0)
    noise_s = plan.noise[0].end
    assert plan.noise[0].start == 0 and plan.sessions[0].start == pytest.approx(noise_s + 1.0)
    first = sub.sessions[0].utterances[0]
    assert plan.utterances[0].start == pytest.approx(plan.sessions[0].start + first.start)
    assert plan.idle.end == pytest.approx(plan.duration) and plan.idle.end - plan.idle.start == pytest.approx(10.0)
    import soundfile as sf

    info = sf.info(str(plan.wav))
    assert info.samplerate == 16000 and info.frames / 16000 == pytest.approx(plan.duration)


def test_bad_corpus_dir_is_a_user_error(tmp_path, stenod_env):
    (tmp_path / "manifest.json").write_text('{"sample_rate": 16000, "clips": [{"id": "a", "path": "nope.wav"}]}')
    out = subprocess.run(STENOD + ["bench", str(tmp_path), "--quiet"], env=stenod_env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "clips[0]: audio file 'nope.wav' not found" in out.stderr


# ---------------------------------------------------------------------------- real runs


def _strict_json(path: Path) -> dict:
    def no_nan(token):
        raise AssertionError(f"{token} in JSON")

    return json.loads(path.read_text(), parse_constant=no_nan)


def _bench(args, env, timeout=300):
    out = subprocess.run(STENOD + ["bench", *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.mark.slow
def test_bench_on_a_subset(corpus, stenod_env, bundled_model, tmp_path):
    sub = write_subset(load_corpus(corpus.dir), tmp_path / "corpus", clips=3, utterances=3,
                       noise=["silence", "keyboard_clicks"])
    speed, idle_s = 2.0, 12.0
    out = _bench([str(sub), "--model", "bundled:tiny.en", "--speed", str(speed), "--idle-s", str(idle_s),
                  "--json", str(tmp_path / "b.json"), "--plot", str(tmp_path / "b.png")], stenod_env)
    r = _strict_json(tmp_path / "b.json")
    assert schema_errors(r) == []
    assert (r["model"], r["device"], r["assistant_model"]) == ("bundled:tiny.en", "cpu", None)
    o, s, n, res = r["offline"], r["streaming"], r["noise"], r["resources"]
    assert o["clips"] == 3 and 0 <= o["wer"] <= 30 and o["median_s"] > 0 and 0 < o["rtf"] < 5
    assert s["utterances"] == 3 and s["finals"] >= 2 and 0 <= s["wer"] <= 30 and s["events_lost"] == 0
    fl, fp = s["final_latency_ms"], s["first_partial_ms"]
    assert 0 < fl["p50"] <= fl["p95"] <= fl["max"] < 60_000
    assert 0 < fp["p50"] <= fp["p95"] < 60_000
    assert s["hallucinated_words"] == s["nonspeech_words"] + n["words"]  # pauses, silence and noise files
    assert n["files"] == 2 and n["words"] == sum(n["by_kind"].values())
    assert 30 < res["peak_rss_mb"] < 16_000 and 0 < res["ready_s"] < 120
    assert 0 <= res["other_load_pct"] <= 100 * (os.cpu_count() or 1)
    if res["idle_cpu_pct"] is None:  # allowed only when the daemon was still busy through the silence
        assert fl["max"] > idle_s / speed * 1000 - 1500, r
    else:
        assert 0 <= res["idle_cpu_pct"] <= 100 * (os.cpu_count() or 1)
    assert "offline" in out.stdout and "final latency" in out.stdout and "idle CPU" in out.stdout
    m = r["machine"]  # the CPU it ran on, also in the summary's first line
    assert m["cpus"] == os.cpu_count() and m["cpu"] and f"{m['cpu']}, {m['cpus']} cores" in out.stdout.splitlines()[0]
    assert "offline 1/3 clips" in out.stderr and "streaming" in out.stderr  # progress
    assert (tmp_path / "b.png").stat().st_size > 10_000


def _silent_model(src: Path, dst: Path) -> Path:
    """A copy of the bundled checkpoint whose decoder always ends the text at once: the final
    layer norm outputs a constant vector that only the end-of-text row of an (untied) output
    projection responds to, and end-of-text is no longer suppressed at the first step."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    weights = load_file(str(dst / "model.safetensors"))
    config = json.loads((dst / "config.json").read_text())
    gen = json.loads((dst / "generation_config.json").read_text())
    eot, d = int(gen["eos_token_id"]), int(config["d_model"])
    unit = torch.zeros(d)
    unit[0] = 1.0
    weights["model.decoder.layer_norm.weight"] = torch.zeros(d)
    weights["model.decoder.layer_norm.bias"] = unit
    proj = torch.zeros(int(config["vocab_size"]), d)
    proj[eot] = 10 * unit
    weights["proj_out.weight"] = proj
    config["tie_word_embeddings"] = False
    gen["begin_suppress_tokens"] = [t for t in gen.get("begin_suppress_tokens") or [] if t != eot]
    save_file(weights, str(dst / "model.safetensors"), metadata={"format": "pt"})
    (dst / "config.json").write_text(json.dumps(config))
    (dst / "generation_config.json").write_text(json.dumps(gen))
    return dst


@pytest.mark.slow
def test_a_model_that_outputs_nothing_gives_wer_100_not_a_crash(corpus, stenod_env, bundled_model, tmp_path):
    model = _silent_model(bundled_model, tmp_path / "silent-model")
    sub = write_subset(load_corpus(corpus.dir), tmp_path / "corpus", clips=2, utterances=2, noise=["silence"])
    _bench([str(sub), "--model", str(model), "--speed", "3", "--idle-s", "0", "--quiet",
            "--json", str(tmp_path / "b.json")], stenod_env)
    r = _strict_json(tmp_path / "b.json")
    assert schema_errors(r) == []
    assert r["offline"]["wer"] == 100.0 and r["offline"]["clips"] == 2
    s = r["streaming"]
    assert s["wer"] == 100.0 and s["finals"] == 0 and s["missing"] == 2 and s["hallucinated_words"] == 0
    assert s["final_latency_ms"] == {"p50": None, "p95": None, "max": None}
    assert r["resources"]["ready_s"] > 0 and r["resources"]["idle_cpu_pct"] is None
    assert not math.isnan(r["offline"]["median_s"])


def test_compare_two_runs(tmp_path, stenod_env):
    from stenod.bench.report import format_compare

    utts = [{"index": i, "start": 1.0, "end": 2.0, "ref": f"ref {i}", "hyp": f"hyp {i}", "status": "ok"}
            for i in range(3)]
    a = _result(details={"utterances": utts})
    b = _result(details={"utterances": [utts[0], {**utts[1], "status": "merged", "hyp": "hyp 1 hyp 2"},
                                        {**utts[2], "status": "merged", "hyp": "hyp 1 hyp 2"}]})
    b["streaming"] = {**b["streaming"], "wer": 2.5, "final_latency_ms": {"p50": 1000.0, "p95": 600.0, "max": 700.0}}
    text = format_compare(a, b, ("greedy.json", "beams.json"))
    assert "A: greedy.json" in text and "B: beams.json" in text
    assert re.search(r"streaming WER %\s+5\.00\s+2\.50\s+0\.50", text)
    assert re.search(r"final latency p50 ms\s+500\s+1000\s+2\.00", text)
    assert "per utterance  A . . ." in text and "               B . M M" in text
    assert "#1 ref 1" in text and "#0 ref 0" not in text
    # the command: two files in, the table out; bad input is a clear error
    import sys

    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a))
    pb.write_text(json.dumps(b))
    out = subprocess.run([sys.executable, "-m", "stenod", "bench", "--compare", str(pa), str(pb)],
                         env=stenod_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "B/A" in out.stdout, out.stderr
    pb.write_text("{}")
    out = subprocess.run([sys.executable, "-m", "stenod", "bench", "--compare", str(pa), str(pb)],
                         env=stenod_env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "not a stenod bench result" in out.stderr

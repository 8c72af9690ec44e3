"""The GPU micro-benchmark: exact architectures, the latency model, and the whole measuring code
run on a CPU at a tiny size (so that it cannot rot while no GPU is at hand)."""

from __future__ import annotations

import subprocess

import pytest

from model_fixtures import STENOD
from stenod.asr import gpubench
from stenod.asr.gpubench import ARCHITECTURES, ModelTiming, expected_tokens_per_round, model_latency


@pytest.mark.parametrize("name,decoder_layers,params_m", [("distil-medium.en", 2, 394), ("whisper-medium.en", 24, 764)])
def test_full_architectures_are_the_published_ones(name, decoder_layers, params_m):
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    arch = ARCHITECTURES["full"][name]
    assert (arch["d_model"], arch["encoder_layers"], arch["decoder_layers"], arch["encoder_attention_heads"],
            arch["decoder_attention_heads"], arch["encoder_ffn_dim"], arch["decoder_ffn_dim"], arch["vocab_size"],
            arch["num_mel_bins"]) == (1024, 24, decoder_layers, 16, 16, 4096, 4096, 51864, 80)
    with torch.device("meta"):  # shapes only, no memory
        model = WhisperForConditionalGeneration(WhisperConfig(**arch))
    n = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(n - params_m) < 0.01 * params_m, n  # the model cards' parameter counts


def test_expected_tokens_per_round():
    assert expected_tokens_per_round(0.0, 5) == 1.0  # every draft rejected: the main model's own token
    assert expected_tokens_per_round(1.0, 5) == 6.0  # every draft accepted, plus the bonus token
    assert expected_tokens_per_round(0.5, 1) == pytest.approx(1.5)
    assert expected_tokens_per_round(0.8, 4) == pytest.approx(1 + 0.8 + 0.64 + 0.512 + 0.4096)


def test_latency_model_by_hand():
    verify = {k: 10.0 + k for k in gpubench.VERIFY_SIZES}
    main = ModelTiming("main", 1.0, encoder_ms=100.0, decoder_ms_per_token={"eager": 10.0}, verify_ms=verify)
    asst = ModelTiming("asst", 1.0, encoder_ms=100.0, decoder_ms_per_token={"eager": 1.0}, verify_ms={})
    m = model_latency(main, asst, tokens=20, acceptance=0.8, drafts=(4,))
    assert m["plain_ms"] == 100 + 20 * 10 and m["distil_alone_ms"] == 100 + 20 * 1
    rounds = 20 / expected_tokens_per_round(0.8, 4)
    assert m["speculative_ms"] == pytest.approx(100 + rounds * (4 * 1.0 + 15.0), abs=0.01)
    assert m["draft_tokens"] == 4 and m["speculative_speedup"] == pytest.approx(300 / m["speculative_ms"], abs=0.01)
    best = model_latency(main, asst, tokens=20, acceptance=0.8)
    assert best["speculative_ms"] <= m["speculative_ms"] and best["draft_tokens"] in (1, 2, 3, 4, 5, 6, 7, 8)


def test_tiny_benchmark_runs_on_cpu():
    # aot_eager: dynamo traces the same compiled step; inductor's C++ code generation would add a
    # minute on a CPU without checking anything of ours.
    result = gpubench.run_benchmark(size="tiny", device="cpu", tokens=4, compile=True, repeats=1,
                                    compile_backend="aot_eager")
    assert result.device == "cpu" and result.dtype == "float32" and result.notes
    assert set(result.models) == {"whisper-medium.en", "distil-medium.en"}
    for t in result.models.values():
        assert t.encoder_ms > 0 and set(t.decoder_ms_per_token) == {"eager", "compiled"}
        assert set(t.verify_ms) == set(gpubench.VERIFY_SIZES) and all(v > 0 for v in t.verify_ms.values())
    text = gpubench.render_markdown(result)
    assert "| whisper-medium.en |" in text and "| distil-medium.en |" in text
    assert "speculative (g)" in text and "70%" in text and "80%" in text
    assert "not a measurement" in text
    assert '"device_name"' in result.to_json()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is available here")
def test_cli_without_gpu_says_so():
    out = subprocess.run(STENOD + ["models", "gpubench"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout == ""
    assert "no GPU available" in out.stderr and "--size tiny --device cpu" in out.stderr
    out = subprocess.run(STENOD + ["models", "gpubench", "--device", "cuda"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "no GPU available" in out.stderr
    out = subprocess.run(STENOD + ["models", "gpubench", "--size", "tiny", "--device", "cpu", "--tokens", "2",
                                   "--repeats", "1", "--no-compile"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "no GPU available" in out.stderr  # said, and the CPU check still runs
    assert "| whisper-medium.en |" in out.stdout and "not a measurement" in out.stdout

"""`stenod serve`'s refusals (no Ray start needed except for the model that fails to load) and the
pure parts of the service: OpenAI answer formats and the settings' validation."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from model_fixtures import STENOD
from serve_fixtures import free_port
from stenod.serve.openai import OpenAIError, check_format, compression_ratio, render, segments
from stenod.serve.settings import ServeSettings
from stenod.types import Transcript


def serve(env: dict, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(STENOD + ["serve", *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_help_has_an_example(stenod_env):
    out = serve(stenod_env, "--help")
    assert out.returncode == 0 and "stenod serve --model bundled:tiny.en" in out.stdout


def test_a_port_in_use_is_refused_before_ray_starts(stenod_env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port()))
        s.listen()
        port = s.getsockname()[1]
        out = serve(stenod_env, "--model", "bundled:tiny.en", "--port", str(port), "--token-file",
                    str(tmp_path / "t"))
    assert out.returncode == 2 and f"port {port} on 127.0.0.1 is in use" in out.stderr, out.stderr


def test_missing_ray_names_the_extra(stenod_env, tmp_path):
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**stenod_env, "PYTHONPATH": f"{shadow.parent}:{stenod_env.get('PYTHONPATH', '')}"}
    out = serve(env, "--model", "bundled:tiny.en")
    assert out.returncode == 2 and "pip install 'stenod[serve]'" in out.stderr, out.stderr


@pytest.mark.parametrize("args,message", [
    (["--replicas", "2", "--max-replicas", "3"], "--replicas is a fixed count"),
    (["--min-replicas", "3", "--max-replicas", "2"], "replicas: need"),
    (["--num-gpus", "many"], "--num-gpus"),
    (["--max-batch-size", "0"], "max_batch_size"),
    (["--set", "model.dtype=float8"], "dtype"),
])
def test_bad_options_are_refused_naming_them(stenod_env, tmp_path, args, message):
    out = serve(stenod_env, "--port", str(free_port()), "--token-file", str(tmp_path / "t"), *args)
    assert out.returncode == 2 and message in out.stderr, out.stderr


@pytest.mark.slow
def test_a_model_that_fails_to_load_reports_the_replicas_error(stenod_env, tmp_path):
    out = serve(stenod_env, "--model", str(tmp_path / "no-model"), "--port", str(free_port()), "--token-file",
                str(tmp_path / "t"), timeout=300)
    assert out.returncode == 2 and "not a transformers model directory" in out.stderr, out.stderr[-3000:]


def test_openai_formats_from_transcripts():
    ts = [Transcript(text="Hello there.", tokens=(1, 2, 3), avg_logprob=-0.2, no_speech_prob=0.01),
          Transcript(text="", guard="no_speech", no_speech_prob=0.9), Transcript(text="Bye & <end>.")]
    segs = segments([16000 * 20, 16000 * 5, 8000], ts)
    assert [(s.start, s.end) for s in segs] == [(0.0, 20.0), (20.0, 25.0), (25.0, 25.5)]
    assert segs[0].seek == 0 and segs[1].seek == 2000 and segs[0].tokens == [1, 2, 3]
    assert json.loads(render("json", segs, 25.5)) == {"text": "Hello there. Bye & <end>."}
    assert render("text", segs, 25.5) == "Hello there. Bye & <end>.\n"
    verbose = json.loads(render("verbose_json", segs, 25.5))
    assert verbose["duration"] == 25.5 and len(verbose["segments"]) == 3
    assert verbose["segments"][1]["no_speech_prob"] == 0.9
    assert render("srt", segs, 25.5).splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:20,000", "Hello there."]
    vtt = render("vtt", segs, 25.5)
    assert vtt.startswith("WEBVTT") and "00:00:25.000 --> 00:00:25.500\nBye &amp; &lt;end&gt;." in vtt
    with pytest.raises(OpenAIError) as err:
        check_format("xml")
    assert err.value.param == "response_format"


def test_compression_ratio_flags_repetition():
    assert compression_ratio("") == 0.0
    assert compression_ratio("The quick brown fox jumps over the lazy dog.") < 1.5
    assert compression_ratio("thank you " * 40) > 2.4  # Whisper's threshold for a repetition loop


def test_settings_validation_names_the_key():
    from stenod.config import Config

    with pytest.raises(ValueError, match="max_batch_size"):
        ServeSettings(Config(), True, "t", max_batch_size=0)
    with pytest.raises(ValueError, match="batch_wait_ms"):
        ServeSettings(Config(), True, "t", batch_wait_s=2.0)
    with pytest.raises(ValueError, match="token"):
        ServeSettings(Config(), True, "")


def test_serve_config_file_arguments_are_checked(tmp_path):
    from stenod.serve.app import build_app

    with pytest.raises(ValueError, match="unknown stenod serve argument.*replicas"):
        build_app({"model": "bundled:tiny.en", "replicas": 2})
    app = build_app({"model": "bundled:tiny.en", "token_file": str(tmp_path / "t"), "max_batch_size": 4,
                     "set": {"model.dtype": "float32"}})
    assert app is not None and (tmp_path / "t").stat().st_mode & 0o777 == 0o600

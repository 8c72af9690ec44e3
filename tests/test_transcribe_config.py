"""`stenod transcribe` reads the configuration like every other command: the config file's
`[model]` and `[decode]` sections, then `--set`, then its own flags; bad keys are clear errors."""

from __future__ import annotations

import json
import subprocess

from model_fixtures import STENOD


def run_cli(args, env):
    return subprocess.run(STENOD + args, env=env, capture_output=True, text=True, timeout=600)


def test_model_and_vocabulary_come_from_the_config_file(corpus, stenod_env, bundled_model, tmp_path):
    clip = corpus.clips[0]
    cfg = tmp_path / "config.toml"
    cfg.write_text('[model]\nname = "bundled:tiny.en"\ndevice = "cpu"\n[decode]\nvocabulary = ["Quarterly"]\n')
    out = run_cli(["transcribe", "--config", str(cfg), "--json", clip["path"]], stenod_env)
    assert out.returncode == 0, out.stderr
    assert "falling back" not in out.stderr  # the model named in the file is explicit
    (row,) = [json.loads(x) for x in out.stdout.splitlines()]
    assert row["model"] == "bundled:tiny.en" and row["device"] == "cpu"
    assert "quarterly" in row["text"].lower()  # the vocabulary reached the prompt (plain tiny.en: "court early")
    # A flag wins over --set, --set over the file.
    bad = run_cli(["transcribe", "--config", str(cfg), "--set", "model.dtype=int8", clip["path"]], stenod_env)
    assert bad.returncode == 2 and "model.dtype" in bad.stderr and "Traceback" not in bad.stderr
    flag = run_cli(["transcribe", "--config", str(cfg), "--set", "model.dtype=int8", "--dtype", "float32",
                    "--set", "decode.vocabulary=", "--json", clip["path"]], stenod_env)
    assert flag.returncode == 0, flag.stderr
    assert "quarterly" not in json.loads(flag.stdout)["text"].lower()


def test_unknown_key_and_malformed_set_are_errors(corpus, stenod_env, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[model]\nbeams = 3\n")
    out = run_cli(["transcribe", "--config", str(cfg), corpus.clips[0]["path"]], stenod_env)
    assert out.returncode == 2 and "beams" in out.stderr and "Traceback" not in out.stderr
    out = run_cli(["transcribe", "--set", "model.dtype", corpus.clips[0]["path"]], stenod_env)
    assert out.returncode == 2 and "expected SECTION.KEY=VALUE" in out.stderr

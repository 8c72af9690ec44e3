"""Naming streams: `--source LABEL=SOURCE` (repeatable), `[source] streams`, and the errors."""

from __future__ import annotations

import subprocess

import pytest

from model_fixtures import STENOD
from stenod.config import ConfigError, SourceConfig, apply_overrides, load_config
from stenod.daemon.capture import SourceError, SourceSpec
from stenod.daemon.stream import StreamSpec, parse_stream, stream_specs


def test_labels_and_the_default_stream():
    assert parse_stream("me=mic") == StreamSpec("me", SourceSpec("mic"))
    assert parse_stream("them=monitor:alsa_output.x") == StreamSpec("them", SourceSpec("monitor", "alsa_output.x"))
    assert parse_stream("b=file:/tmp/a=b.wav") == StreamSpec("b", SourceSpec("file", "/tmp/a=b.wav"))
    assert parse_stream("monitor") == StreamSpec("main", SourceSpec("monitor"))
    assert [str(s) for s in stream_specs(SourceConfig(source="mic"))] == ["main=mic"]
    cfg = SourceConfig(source="mic", streams=("me=mic", "them=monitor"))  # streams replace source
    assert [s.label for s in stream_specs(cfg)] == ["me", "them"]


def test_bad_streams_name_the_key(tmp_path):
    for streams, message in ((("me=mic", "me=monitor"), "labels must differ"),
                             (("mic",), "expected LABEL=SOURCE"), (("9x=mic",), "expected LABEL=SOURCE")):
        with pytest.raises(ValueError, match=f"streams: {message}"):
            SourceConfig(streams=streams)
    path = tmp_path / "config.toml"
    path.write_text('[source]\nstreams = ["a=mic", "a=monitor"]\n')
    with pytest.raises(ConfigError, match=r"source\.streams.*labels must differ|streams: labels must differ"):
        load_config(path)
    with pytest.raises(SourceError, match="only one stream can read stdin"):
        stream_specs(SourceConfig(streams=("a=-", "b=-")))
    with pytest.raises(SourceError, match="unknown source"):
        stream_specs(SourceConfig(streams=("a=nosuch",)))


def test_repeated_source_flags_become_streams(tmp_path):
    from stenod.cli import build_parser
    from stenod.commands.run import build_config

    parser = build_parser()
    (tmp_path / "empty.toml").write_text("")
    cfg = build_config(parser.parse_args(["run", "--config", str(tmp_path / "empty.toml"),
                                          "--source", "me=mic", "--source", "them=monitor"]))
    assert cfg.source.streams == ("me=mic", "them=monitor")
    (tmp_path / "c.toml").write_text('[source]\nstreams = ["a=mic", "b=monitor"]\n')
    cfg = build_config(parser.parse_args(["run", "--config", str(tmp_path / "c.toml"), "--source", "file:x.wav"]))
    assert (cfg.source.source, cfg.source.streams) == ("file:x.wav", ())  # one --source replaces the file's
    assert apply_overrides(load_config(tmp_path / "c.toml"), {}).source.streams == ("a=mic", "b=monitor")


def test_the_daemon_refuses_bad_streams_clearly(stenod_env, tmp_path):
    out = subprocess.run(STENOD + ["run", "--model", "bundled:tiny.en", "--source", "a=file:/nonexistent.wav",
                                   "--source", "b=mic", "--events", f"ipc://{tmp_path}/e",
                                   "--control", f"ipc://{tmp_path}/c"],
                         env=stenod_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "/nonexistent.wav" in out.stderr, out.stderr

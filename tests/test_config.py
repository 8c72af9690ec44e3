"""Configuration: defaults, TOML loading, error messages, overrides, endpoints."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import os
from pathlib import Path

import pytest

from stenod.config import (
    Config,
    ConfigError,
    ModelConfig,
    SocketsConfig,
    SourceConfig,
    StreamConfig,
    apply_overrides,
    config_from_dict,
    default_config_path,
    default_endpoints,
    load_config,
    resolve_endpoints,
    runtime_dir,
    to_toml,
)
from stenod.daemon.segment import VadConfig


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults():
    cfg = Config()
    assert cfg.model == ModelConfig()
    assert cfg.model.name == "distil-whisper/distil-medium.en"
    assert (cfg.model.device, cfg.model.assistant_model, cfg.model.decoding) == ("auto", None, "plain")
    assert (cfg.model.dtype, cfg.model.attention, cfg.model.compile, cfg.model.static_cache) == (
        "auto", "sdpa", False, False,
    )  # fmt: skip
    assert cfg.source == SourceConfig("mic", 1.0, False, 30, 60.0)
    assert cfg.vad == VadConfig()
    assert cfg.sockets == SocketsConfig(None, None)
    assert cfg.stream == StreamConfig(0.5, 200, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model = ModelConfig()  # type: ignore[misc]


def test_load_sections(tmp_path):
    path = write(
        tmp_path,
        """
        [model]
        name = "openai/whisper-tiny.en"
        device = "cpu"
        assistant_model = "distil-whisper/distil-small.en"
        decoding = "speculative"
        compile = true
        [source]
        source = "talk.wav"
        speed = 2        # an integer where a float is expected is fine
        exit_at_end = true
        [vad]
        hangover_ms = 250
        max_utterance_s = 15
        [sockets]
        events = "tcp://127.0.0.1:5555"
        [stream]
        snapshot_finals = 0
        """,
    )
    cfg = load_config(path)
    assert cfg.model.name == "openai/whisper-tiny.en" and cfg.model.decoding == "speculative"
    assert cfg.model.assistant_model == "distil-whisper/distil-small.en" and cfg.model.compile is True
    assert cfg.source.speed == 2.0 and isinstance(cfg.source.speed, float) and cfg.source.exit_at_end
    assert cfg.vad.hangover_ms == 250 and cfg.vad.onset_ms == 90
    assert cfg.vad.max_utterance_s == 15.0 and isinstance(cfg.vad.max_utterance_s, float)
    assert cfg.sockets.events == "tcp://127.0.0.1:5555" and cfg.sockets.control is None
    assert cfg.stream.snapshot_finals == 0 and cfg.stream.heartbeat_s == 1.0


def test_inf_speed(tmp_path):
    assert math.isinf(load_config(write(tmp_path, "[source]\nspeed = inf\n")).source.speed)


@pytest.mark.parametrize(
    "text, message",
    [
        ('[vad]\nhangover_ms = "abc"\n', "[vad] hangover_ms: expected an integer, got 'abc'"),
        ("[vad]\nhangover_ms = 2.5\n", "[vad] hangover_ms: expected an integer, got 2.5"),
        ("[vad]\nhangover_ms = true\n", "[vad] hangover_ms: expected an integer, got True"),
        ("[vad]\nhangover_ms = 0\n", "[vad] hangover_ms: must be >= 1, got 0"),
        ("[vad]\nearly_ms = 400\n", "[vad] early_ms: must be less than hangover_ms"),
        ("[vad]\nhangover = 200\n", "[vad] hangover: unknown key (known: aggressiveness, frame_ms"),
        ("[vda]\nhangover_ms = 200\n", "unknown section [vda] (known: model, source, vad, sockets, stream, dictation, captions, web, decode, journal)"),
        ("vad = 3\n", "[vad] must be a table"),
        ('[model]\ndecoding = "fast"\n', "[model] decoding: expected one of 'plain', 'speculative', got 'fast'"),
        ('[model]\ndtype = "int8"\n', "[model] dtype: expected one of"),
        ("[model]\ncompile = 1\n", "[model] compile: expected true or false, got 1"),
        ("[model]\nassistant_model = 3\n", "[model] assistant_model: expected a string or none, got 3"),
        ('[model]\nname = ""\n', "[model] name: must not be empty"),
        ("[source]\nspeed = 0\n", "[source] speed: must be a positive number"),
        ("[source]\nspeed = nan\n", "[source] speed: must be a positive number"),
        ('[source]\nspeed = "fast"\n', "[source] speed: expected a number, got 'fast'"),
        ("[source]\nblock_ms = 0\n", "[source] block_ms: must be in 1..1000"),
        ("[source]\nring_s = inf\n", "[source] ring_s: must be a positive number"),
        ('[sockets]\nevents = "/tmp/x"\n', "[sockets] events: expected a ZeroMQ endpoint"),
        ('[sockets]\nevents = "ipc:///a"\ncontrol = "ipc:///a"\n', "[sockets] control: must differ"),
        ("[stream]\nsnapshot_finals = -1\n", "[stream] snapshot_finals: must be >= 0"),
        ("[stream]\nheartbeat_s = 0\n", "[stream] heartbeat_s: must be a positive number"),
        ("[vad\n", "invalid TOML"),
    ],
)
def test_errors_name_file_section_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_error_message_matches_documented_form():
    with pytest.raises(ConfigError, match=r"^config.toml: \[vad\] hangover_ms: expected an integer, got 'abc'$"):
        config_from_dict({"vad": {"hangover_ms": "abc"}}, "config.toml")


def test_non_utf8_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"[model]\nname = \"\xff\"\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(path)


def test_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")
    env = {"XDG_CONFIG_HOME": str(tmp_path), "HOME": "/nonexistent"}
    assert load_config(None, env=env) == Config()
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a directory


def test_default_path_is_used(tmp_path):
    (tmp_path / "stenod").mkdir()
    (tmp_path / "stenod" / "config.toml").write_text("[vad]\nhangover_ms = 240\n")
    assert load_config(env={"XDG_CONFIG_HOME": str(tmp_path)}).vad.hangover_ms == 240


def test_default_config_path():
    assert default_config_path({"XDG_CONFIG_HOME": "/x/cfg", "HOME": "/h"}) == Path("/x/cfg/stenod/config.toml")
    assert default_config_path({"HOME": "/h"}) == Path("/h/.config/stenod/config.toml")
    assert default_config_path({"XDG_CONFIG_HOME": "", "HOME": "/h"}) == Path("/h/.config/stenod/config.toml")
    assert default_config_path({"XDG_CONFIG_HOME": "rel", "HOME": "/h"}) == Path("/h/.config/stenod/config.toml")


# ------------------------------------------------------------------------------ overrides


def test_apply_overrides_typed_and_text():
    cfg = Config()
    new = apply_overrides(
        cfg,
        {
            "vad.hangover_ms": 250,
            "vad.early_ms": "90",
            "source.speed": "1.5",
            "source.exit_at_end": "yes",
            "model.compile": True,
            "model.assistant_model": "distil-whisper/distil-small.en",
            "model.name": "123",  # a str field takes text as is
        },
    )
    assert (new.vad.hangover_ms, new.vad.early_ms) == (250, 90)
    assert new.source.speed == 1.5 and new.source.exit_at_end is True
    assert new.model.compile is True and new.model.name == "123"
    assert new.model.assistant_model == "distil-whisper/distil-small.en"
    assert cfg == Config()  # the original is untouched
    assert apply_overrides(new, {"model.assistant_model": "none"}).model.assistant_model is None
    assert apply_overrides(new, {"model.assistant_model": None}).model.assistant_model is None
    assert apply_overrides(cfg, {}) == cfg


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"vad.hangover_ms": "abc"}, "override vad.hangover_ms: expected an integer, got 'abc'"),
        ({"vad.hangover_ms": -5}, "override vad.hangover_ms: must be >= 1, got -5"),
        ({"vad.hangover": 5}, "override vad.hangover: unknown key"),
        ({"vads.hangover_ms": 5}, "override 'vads.hangover_ms': expected section.key"),
        ({"hangover_ms": 5}, "override 'hangover_ms': expected section.key"),
        ({"model.compile": "maybe"}, "override model.compile: expected true or false, got 'maybe'"),
        ({"model.decoding": "greedy"}, "override model.decoding: expected one of"),
        ({"source.speed": None}, "override source.speed: expected a number, got None"),
        ({"vad.early_ms": 360}, "override vad.early_ms: must be less than hangover_ms"),
    ],
)
def test_apply_overrides_errors(overrides, message):
    with pytest.raises(ConfigError) as info:
        apply_overrides(Config(), overrides)
    assert message in str(info.value)


def test_overrides_are_validated_together():
    # Raising the hangover first would make early_ms valid; both changes apply as one.
    cfg = apply_overrides(Config(), {"vad.early_ms": 400, "vad.hangover_ms": 500})
    assert (cfg.vad.early_ms, cfg.vad.hangover_ms) == (400, 500)


def test_direct_construction_is_checked_too():
    with pytest.raises(ValueError, match="speed: expected a number"):
        SourceConfig(speed="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decoding: expected one of"):
        ModelConfig(decoding="beam")  # type: ignore[arg-type]
    assert isinstance(SourceConfig(speed=2).speed, float)


def test_to_toml_round_trips(tmp_path):
    cfg = apply_overrides(
        Config(),
        {"model.assistant_model": 'a "quoted" name', "source.speed": "inf", "vad.hangover_ms": 450,
         "sockets.events": "ipc:///tmp/é/events", "model.compile": True},
    )  # fmt: skip
    text = to_toml(cfg)
    assert "# control = (unset)" in text
    assert load_config(write(tmp_path, text)) == cfg
    assert load_config(write(tmp_path, to_toml(Config()))) == Config()


# ------------------------------------------------------------------------------ endpoints


def test_default_endpoints():
    assert default_endpoints({"XDG_RUNTIME_DIR": "/run/user/1000"}) == (
        "ipc:///run/user/1000/stenod/events",
        "ipc:///run/user/1000/stenod/control",
    )
    uid = os.getuid()
    assert runtime_dir({}) == Path(f"/tmp/stenod-{uid}")
    assert default_endpoints({"XDG_RUNTIME_DIR": ""}) == (
        f"ipc:///tmp/stenod-{uid}/events",
        f"ipc:///tmp/stenod-{uid}/control",
    )


def test_resolve_endpoints():
    env = {"XDG_RUNTIME_DIR": "/run/user/7"}
    assert resolve_endpoints(SocketsConfig(), env) == default_endpoints(env)
    assert resolve_endpoints(SocketsConfig(events="tcp://0.0.0.0:9"), env) == (
        "tcp://0.0.0.0:9",
        "ipc:///run/user/7/stenod/control",
    )


def test_dictation_section_tables_and_overrides():
    cfg = config_from_dict({"dictation": {"start": "off", "commands": {"smiley": ":-)"}}})
    assert cfg.dictation.start == "off" and cfg.dictation.commands == {"smiley": ":-)"}
    assert config_from_dict(tomllib.loads(to_toml(cfg))) == cfg
    assert apply_overrides(cfg, {"dictation.commands": '{"a": "b"}'}).dictation.commands == {"a": "b"}
    with pytest.raises(ConfigError, match=r"\[dictation\] commands: expected a table of strings"):
        config_from_dict({"dictation": {"commands": {"a": 1}}})
    with pytest.raises(ConfigError, match="dictation.commands: expected a table of strings as JSON"):
        apply_overrides(cfg, {"dictation.commands": "x"})
    with pytest.raises(ConfigError, match="start: expected one of 'on', 'off'"):
        config_from_dict({"dictation": {"start": "maybe"}})


def test_captions_and_web_sections():
    from stenod.config import CaptionsConfig, WebConfig, parse_listen

    cfg = config_from_dict({"captions": {"size": 40, "colour": "gold", "stream": "room"},
                            "web": {"listen": "[::1]:9000"}})
    assert cfg.captions == CaptionsConfig(size=40, colour="gold", stream="room")
    assert parse_listen(cfg.web.listen) == ("::1", 9000) and cfg.web == WebConfig("[::1]:9000")
    for doc, message in [({"captions": {"lines": 0}}, "[captions] lines: must be in 1..10"),
                         ({"captions": {"opacity": 2}}, "[captions] opacity: must be in 0.1..1.0"),
                         ({"captions": {"background": "#12345"}}, "[captions] background: expected a colour"),
                         ({"captions": {"position": "left"}}, "[captions] position: expected one of"),
                         ({"web": {"listen": "8765"}}, "[web] listen: expected HOST:PORT"),
                         ({"web": {"listen": "host:99999"}}, "[web] listen: expected HOST:PORT")]:
        with pytest.raises(ConfigError) as exc:
            config_from_dict(doc, "c.toml")
        assert message in str(exc.value)
    assert apply_overrides(Config(), {"captions.fade_s": "2.5"}).captions.fade_s == 2.5


# ------------------------------------------------------------------------------ [decode]


def test_decode_section_lists_and_device_defaults(tmp_path):
    from stenod.config import DecodeConfig

    cfg = load_config(write(tmp_path, '[decode]\nvocabulary = ["Kubernetes", "Nguyen"]\nfinal_beams = 3\n'))
    assert cfg.decode.vocabulary == ("Kubernetes", "Nguyen") and cfg.decode.final_beams == 3
    assert load_config(write(tmp_path, to_toml(cfg))) == cfg
    over = apply_overrides(Config(), {"decode.vocabulary": "Kubernetes, Nguyen"})
    assert over.decode.vocabulary == ("Kubernetes", "Nguyen")
    assert apply_overrides(Config(), {"decode.vocabulary": '["a, b", "c"]'}).decode.vocabulary == ("a, b", "c")
    assert apply_overrides(Config(), {"decode.vocabulary": ""}).decode.vocabulary == ()
    assert DecodeConfig().beams_for("cuda:0") == 5 and DecodeConfig().beams_for("cpu") == 1
    assert DecodeConfig(final_beams=2).beams_for("cuda") == 2
    assert DecodeConfig(vocabulary=["x"]).vocabulary == ("x",)  # direct construction normalises too


@pytest.mark.parametrize(
    "text, message",
    [
        ('[decode]\nvocabulary = "Kubernetes"\n', "[decode] vocabulary: expected a list of strings, got 'Kubernetes'"),
        ("[decode]\nvocabulary = [1, 2]\n", "[decode] vocabulary: expected a list of strings"),
        ('[decode]\nvocabulary = [" "]\n', "[decode] vocabulary: words must not be empty"),
        ("[decode]\nfinal_beams = 40\n", "[decode] final_beams: must be in 0..16"),
        ("[decode]\nprompt_tokens = 300\n", "[decode] prompt_tokens: must be in 0..223"),
    ],
)
def test_decode_errors_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)

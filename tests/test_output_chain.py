"""The output layer's selection and fallback rules, and `--last`'s choice of finals (units; the
backends themselves are tested against real servers in test_type_x11.py / test_type_wayland.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from fake_daemon import final
from stenod.clients.output import Desktop, NoBackend, OutputError, choose_typer
from stenod.clients.output.base import split_combo
from stenod.clients.output.chain import FallbackTyper, choose_focus
from stenod.clients.output.ydotool import YdotoolTyper
from stenod.clients.typist import common_prefix, recent_finals
from stenod.protocol import encode, stamp


class Fake:
    def __init__(self, name: str, fail: bool = False):
        self.name, self.fail, self.typed = name, fail, []

    def unavailable(self):
        return None

    def type_text(self, text):
        if self.fail:
            raise OutputError(f"{self.name} broke")
        self.typed.append(text)

    def backspace(self, count):
        self.type_text(f"<{count}")

    def key(self, combo):
        self.type_text(f"[{combo}]")


def test_desktop_detection():
    assert Desktop.detect({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0", "SWAYSOCK": "/s"}) == \
        Desktop("wayland", "sway")
    assert Desktop.detect({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}) == Desktop("x11", "other")
    assert Desktop.detect({"XDG_SESSION_TYPE": "wayland", "HYPRLAND_INSTANCE_SIGNATURE": "x"}) == \
        Desktop("wayland", "hyprland")
    assert Desktop.detect({}).kind == "none"


def test_fallback_says_once_and_keeps_the_next_backend():
    said: list[str] = []
    first, second = Fake("first", fail=True), Fake("second")
    typer = FallbackTyper([first, second], said.append)
    typer.type_text("one")
    typer.backspace(2)
    assert second.typed == ["one", "<2"] and typer.name == "second"
    assert len(said) == 1 and "first failed (first broke); using second" in said[0]
    last = FallbackTyper([Fake("a", fail=True)], said.append)
    for _ in range(2):  # the last backend stays, to be tried again
        with pytest.raises(NoBackend, match="every typing backend failed"):
            last.type_text("x")


def test_no_backend_names_what_to_install(monkeypatch):
    for var in ("WAYLAND_DISPLAY", "DISPLAY", "SWAYSOCK", "HYPRLAND_INSTANCE_SIGNATURE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "/nonexistent/wayland-9")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(NoBackend, match="install wtype"):
        choose_typer(Desktop.detect())
    with pytest.raises(NoBackend, match="xdotool backend does not work in a wayland session"):
        choose_typer(Desktop.detect(), backend="xdotool")
    assert choose_focus(Desktop.detect()).name == "none"


def test_ydotool_says_what_it_needs():
    reason = YdotoolTyper().unavailable()
    assert reason is None or "ydotoold" in reason or "/dev/uinput" in reason


def test_key_combinations():
    assert split_combo("ctrl+shift+v") == (["ctrl", "shift"], "v")
    assert split_combo("BackSpace") == ([], "BackSpace")
    for bad in ("ctrl+", "hyper+v", "+v"):
        with pytest.raises(ValueError):
            split_combo(bad)


def test_common_prefix():
    assert common_prefix("Hello world", "Hello, world") == 5
    assert common_prefix("", "x") == 0 and common_prefix("abc", "abc") == 3


def _body(utt: int, text: str, age_s: float, now: datetime, dictation: bool = True) -> dict:
    wall = int((now - timedelta(seconds=age_s)).timestamp() * 1e9)
    event = stamp(final(utt, text), "s", utt, wall_ns=wall)
    body = json.loads(encode(event)[1])
    body["dictation"] = dictation
    return body


def test_recent_finals_by_wall_time_and_gate():
    now = datetime.now(timezone.utc)
    snapshot = {"finals": [_body(1, "old", 90, now), _body(2, "off", 10, now, dictation=False),
                           _body(3, "new", 5, now), {"broken": True}, _body(4, "", 2, now)]}
    assert [f.text for f in recent_finals(snapshot, 30, now=now)] == ["new"]
    assert [f.text for f in recent_finals(snapshot, 30, always=True, now=now)] == ["off", "new"]
    assert [f.text for f in recent_finals(snapshot, 120, now=now)] == ["old", "new"]

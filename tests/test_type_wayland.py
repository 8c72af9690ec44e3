"""`stenod type` and `stenod clip` under a real headless sway: a foot window running ``cat > FILE``
receives the keystrokes, wl-paste reads the clipboard back."""

from __future__ import annotations

import subprocess
import time

import pytest

from fake_daemon import FakeDaemon, final, partial
from stenod.clients.output.focus import SwayFocus
from stenod.clients.output.wtype import WtypeTyper
from stenod.protocol import SpeechStart
from typing_helpers import CAT, ClientProcess, Terminal, a_clip, client_env, speaking_daemon  # noqa: F401
from wayland_fixtures import sway  # noqa: F401


@pytest.fixture
def wl_env(sway, stenod_env):  # noqa: F811
    return client_env(stenod_env, sway.env)


def foot(sway, env, path) -> tuple[Terminal, dict]:  # noqa: F811
    """A foot window with the focus; its sway tree node."""
    term = Terminal(["foot", "-e", "sh", "-c", CAT.format(path=path)], env, path)
    return term, sway.wait_focused(term.proc.pid)


def wl_paste(env) -> str:
    return subprocess.run(["wl-paste", "--no-newline"], env=env, capture_output=True, text=True, timeout=10).stdout


def wait_paste(env, expected: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and wl_paste(env) != expected:
        time.sleep(0.1)
    return wl_paste(env)


def wl_copy(env, text: str) -> None:
    subprocess.run(["wl-copy", text], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10,
                   check=True)


def start(env, daemon, tmp_path, *args: str) -> ClientProcess:
    client = ClientProcess(["type", "--events", daemon.events, "--control", daemon.control, *args], env, tmp_path)
    client.wait_stderr("connected; typing with")
    return client


def test_wtype_delivers_the_first_character_every_time(sway, wl_env, tmp_path, monkeypatch):  # noqa: F811
    term, _ = foot(sway, wl_env, tmp_path / "typed")
    for key in ("WAYLAND_DISPLAY", "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(key, wl_env[key])
    typer = WtypeTyper()
    expected = "".join(f"Word{i} " for i in range(12)) + "é ü — 🎉 ÉTÉ\n"
    try:
        for i in range(12):  # without the settle sleep about a quarter of these lost their "W"
            typer.type_text(f"Word{i} ")
        typer.type_text("é ü — 🎉 ÉTÉ\n")
        assert term.wait_for(expected) == expected
    finally:
        term.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["wtype", "paste"])
def test_types_a_corpus_final_exactly(backend, sway, wl_env, speaking_daemon, corpus, tmp_path):  # noqa: F811
    term, _ = foot(sway, wl_env, tmp_path / "typed")
    wl_copy(wl_env, "the user's own clipboard")
    client = start(wl_env, speaking_daemon, tmp_path, "--backend", backend)
    try:
        event = speaking_daemon.speak(a_clip(corpus)["path"])
        assert event["text"]
        assert term.wait_for(event["text"] + " ") == event["text"] + " "
        assert wait_paste(wl_env, "the user's own clipboard") == "the user's own clipboard"
    finally:
        assert client.stop() == 0
        term.close()


def test_paste_backend_unicode_and_restores_clipboard(sway, wl_env, endpoint, tmp_path):  # noqa: F811
    term, _ = foot(sway, wl_env, tmp_path / "typed")
    wl_copy(wl_env, "kept ✓")
    text = "Naïve café — 🎉 ÜBER."
    with FakeDaemon(endpoint("ev"), endpoint("ctl")) as fake:
        client = start(wl_env, fake, tmp_path, "--backend", "paste")
        try:
            fake.publish(final(1, text))
            assert term.wait_for(text + " ") == text + " "
            assert wait_paste(wl_env, "kept ✓") == "kept ✓"
        finally:
            client.stop()
            term.close()


def test_sway_focus_probe_and_guard(sway, wl_env, endpoint, tmp_path, monkeypatch):  # noqa: F811
    term_a, node_a = foot(sway, wl_env, tmp_path / "a")
    term_b, node_b = foot(sway, wl_env, tmp_path / "b")
    monkeypatch.setenv("SWAYSOCK", wl_env["SWAYSOCK"])
    probe = SwayFocus()
    assert probe.current().id == str(node_b["id"]) and probe.current().app == "foot"
    sway.focus(node_a["id"])
    assert probe.current().id == str(node_a["id"])
    with FakeDaemon(endpoint("ev"), endpoint("ctl")) as fake:
        client = start(wl_env, fake, tmp_path)
        assert "focus guard via sway" in client.stderr()
        try:
            fake.publish(SpeechStart(utt=2, audio_ms=0))
            fake.publish(final(1, "Ready."))
            assert term_a.wait_for("Ready. ") == "Ready. "
            sway.focus(node_b["id"])
            fake.publish(final(2, "Meant for window A."))
            client.wait_stderr("the text is on the clipboard")
            assert wait_paste(wl_env, "Meant for window A.") == "Meant for window A."
            assert term_a.settle() == "Ready. " and term_b.settle() == ""
        finally:
            client.stop()
            term_a.close()
            term_b.close()


def test_clip_on_wayland(wl_env, endpoint, tmp_path):
    with FakeDaemon(endpoint("ev"), endpoint("ctl")) as fake:
        client = ClientProcess(["clip", "--append", "--events", fake.events, "--control", fake.control], wl_env,
                               tmp_path)
        client.wait_stderr("connected; copying with wl-clipboard")
        try:
            fake.publish(final(1, "Première."))
            assert wait_paste(wl_env, "Première.") == "Première."
            fake.restart()  # the buffer belongs to this run of stenod clip, not to the daemon session
            fake.publish(final(1, "Après."))
            assert wait_paste(wl_env, "Première. Après.") == "Première. Après."
        finally:
            assert client.stop() == 0


def test_live_corrections_with_wtype(sway, wl_env, endpoint, tmp_path):  # noqa: F811
    term, _ = foot(sway, wl_env, tmp_path / "typed")
    with FakeDaemon(endpoint("ev"), endpoint("ctl")) as fake:
        client = start(wl_env, fake, tmp_path, "--live")
        try:
            fake.publish(SpeechStart(utt=1, audio_ms=0))
            fake.publish(partial(1, 0, "Hello there my", 12))
            assert term.wait_for("Hello there") == "Hello there"
            fake.publish(final(1, "Hello, théré!"))
            assert term.wait_for("Hello, théré! ") == "Hello, théré! "
        finally:
            client.stop()
            term.close()

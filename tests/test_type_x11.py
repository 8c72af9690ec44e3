"""`stenod type` and `stenod clip` on a real X server (Xvfb): an xterm running ``cat > FILE``
receives the keystrokes, xclip reads the clipboard back."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from fake_daemon import FakeDaemon, final, partial
from model_fixtures import STENOD
from stenod.clients.output.chain import FallbackTyper
from stenod.clients.output.clipboard import XclipClipboard, XselClipboard
from stenod.clients.output.xdotool import XdotoolTyper
from stenod.clients.output.ydotool import YdotoolTyper
from stenod.daemon.journal import Journal
from stenod.protocol import SpeechStart, encode, stamp
from typing_helpers import CAT, TK_ENTRY, ClientProcess, Terminal, a_clip, client_env, require, speaking_daemon  # noqa: F401


@pytest.fixture
def x_env(xvfb, stenod_env):
    require("xterm", "xdotool", "xclip")
    return client_env(stenod_env, {**xvfb.env, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})


def x(env, *args: str) -> str:
    out = subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def xterm(env, path) -> tuple[Terminal, str]:
    """An xterm with the input focus; its window id."""
    term = Terminal(["xterm", "-u8", "-e", "sh", "-c", CAT.format(path=path)], env, path)
    wid = x(env, "search", "--sync", "--pid", str(term.proc.pid)).split()[0]
    x(env, "windowfocus", "--sync", wid)
    return term, wid


def clipboard(env) -> str:
    return subprocess.run(["xclip", "-selection", "clipboard", "-o"], env=env, capture_output=True, text=True,
                          timeout=10).stdout


def wait_clipboard(env, expected: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (got := clipboard(env)) != expected:
        time.sleep(0.1)
    return clipboard(env)


@pytest.fixture
def fake(endpoint):
    with FakeDaemon(endpoint("ev"), endpoint("ctl")) as daemon:
        yield daemon


def start_type(env, daemon, tmp_path, *args: str) -> ClientProcess:
    client = ClientProcess(["type", "--events", daemon.events, "--control", daemon.control, *args], env, tmp_path)
    client.wait_stderr("connected; typing with")
    return client


@pytest.mark.slow
def test_nothing_is_typed_or_copied_while_the_daemon_has_dictation_off(x_env, speaking_daemon, corpus, tmp_path):
    """The gate end to end: the real daemon marks the utterance, `stenod type` and `stenod clip`
    leave it alone; once dictation is on again the next final arrives exactly, in both."""
    def dictation(state: str) -> None:
        out = subprocess.run(STENOD + ["dictation", state, "--control", speaking_daemon.control], env=x_env,
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.strip() == f"dictation {state}", out.stderr

    clips = sorted(corpus.clips, key=lambda c: len(c["text"]))[:2]
    term, _ = xterm(x_env, tmp_path / "typed")
    typist = start_type(x_env, speaking_daemon, tmp_path)
    clip = ClientProcess(["clip", "--events", speaking_daemon.events, "--control", speaking_daemon.control],
                         x_env, tmp_path)
    subprocess.run(["xclip", "-selection", "clipboard"], input="before", text=True, env=x_env, timeout=10)
    try:
        dictation("off")
        spoken_off = speaking_daemon.speak(clips[0]["path"])
        assert spoken_off["text"] and spoken_off["dictation"] is False
        assert term.settle(quiet_s=2.0) == ""
        assert clipboard(x_env) == "before"
        dictation("on")
        spoken_on = speaking_daemon.speak(clips[1]["path"])
        assert spoken_on["text"] and spoken_on["dictation"] is True
        assert term.wait_for(spoken_on["text"] + " ") == spoken_on["text"] + " "
        assert wait_clipboard(x_env, spoken_on["text"]) == spoken_on["text"]
    finally:
        dictation("on")
        assert typist.stop() == 0
        assert clip.stop() == 0
        term.close()


@pytest.mark.slow
def test_types_a_corpus_final_exactly(x_env, speaking_daemon, corpus, tmp_path):
    term, _ = xterm(x_env, tmp_path / "typed")
    client = start_type(x_env, speaking_daemon, tmp_path)
    try:
        event = speaking_daemon.speak(a_clip(corpus)["path"])
        assert event["text"]
        assert term.wait_for(event["text"] + " ") == event["text"] + " "
    finally:
        assert client.stop() == 0
        term.close()


def test_unicode_and_capitals_arrive_exactly(x_env, fake, tmp_path):
    term, _ = xterm(x_env, tmp_path / "typed")
    client = start_type(x_env, fake, tmp_path)
    text = "Café über — naïve 🎉 Straße, ÉTÉ? Ça va."
    more = "Ωμέγα ŁÓDŹ ñandú «À bientôt» ½ → ✓"
    try:
        fake.publish(final(1, text))
        assert term.wait_for(text + " ") == text + " "
        fake.publish(final(2, more))
        assert term.wait_for(f"{text} {more} ") == f"{text} {more} "
    finally:
        client.stop()
        term.close()


def test_dictation_off_is_not_typed_unless_always(x_env, fake, tmp_path):
    off = dataclasses.replace(final(1, "Said in the room."), dictation=False)
    term_a, _ = xterm(x_env, tmp_path / "gated")
    gated = start_type(x_env, fake, tmp_path)
    fake.publish(off)
    fake.publish(final(2, "Dictated."))
    assert term_a.wait_for("Dictated. ") == "Dictated. "
    gated.stop()
    term_a.close()
    term_b, _ = xterm(x_env, tmp_path / "always")
    always = start_type(x_env, fake, tmp_path, "--always")
    try:
        fake.publish(dataclasses.replace(final(3, "Room again."), dictation=False))
        assert term_b.wait_for("Room again. ") == "Room again. "
    finally:
        always.stop()
        term_b.close()


def test_focus_guard_puts_the_text_on_the_clipboard(x_env, fake, tmp_path):
    term_a, wid_a = xterm(x_env, tmp_path / "a")
    term_b, wid_b = xterm(x_env, tmp_path / "b")
    x(x_env, "windowfocus", "--sync", wid_a)
    client = start_type(x_env, fake, tmp_path)
    try:
        fake.publish(SpeechStart(utt=2, audio_ms=0))
        fake.publish(final(1, "Ready."))  # typed once the speech start before it was handled
        assert term_a.wait_for("Ready. ") == "Ready. "
        x(x_env, "windowfocus", "--sync", wid_b)
        fake.publish(partial(2, 0, "Private words", 0))
        fake.publish(final(2, "Private words for window A."))
        client.wait_stderr("the text is on the clipboard")
        assert wait_clipboard(x_env, "Private words for window A.") == "Private words for window A."
        assert term_a.settle() == "Ready. " and term_b.settle() == ""
    finally:
        client.stop()
        term_a.close()
        term_b.close()


def test_live_corrections_delete_only_what_was_typed(x_env, fake, tmp_path):
    term, wid = xterm(x_env, tmp_path / "typed")
    x(x_env, "type", "--", "mine: ")  # the user's own text, before dictation
    assert term.wait_for("mine: ") == "mine: "
    client = start_type(x_env, fake, tmp_path, "--live")
    try:
        fake.publish(SpeechStart(utt=1, audio_ms=0))
        fake.publish(partial(1, 0, "Hello there my", 12))
        assert term.wait_for("mine: Hello there") == "mine: Hello there"
        fake.publish(partial(1, 1, "Hello there my friend", 15))
        assert term.wait_for("mine: Hello there my") == "mine: Hello there my"
        fake.publish(final(1, "Hi."))
        assert term.wait_for("mine: Hi. ") == "mine: Hi. "
        fake.publish(partial(2, 0, "Second one is long", 14))
        assert term.wait_for("mine: Hi. Second one is") == "mine: Hi. Second one is"
        fake.publish(final(2, "Second, once."))
        assert term.wait_for("mine: Hi. Second, once. ") == "mine: Hi. Second, once. "
    finally:
        client.stop()
        term.close()


def test_spoken_commands_and_scratch_that(x_env, fake, tmp_path):
    term, _ = xterm(x_env, tmp_path / "typed")
    client = start_type(x_env, fake, tmp_path)
    try:
        fake.publish(final(1, "Dear team, new line. Thanks comma all"))
        assert term.wait_for("Dear team,\nThanks, all ") == "Dear team,\nThanks, all "
        fake.publish(final(2, "Delete me."))
        assert term.wait_for("Dear team,\nThanks, all Delete me. ") == "Dear team,\nThanks, all Delete me. "
        fake.publish(final(3, "Scratch that."))
        assert term.wait_for("Dear team,\nThanks, all ") == "Dear team,\nThanks, all "
        fake.publish(final(4, "Done period"))
        assert term.wait_for("Dear team,\nThanks, all Done. ") == "Dear team,\nThanks, all Done. "
    finally:
        client.stop()
        term.close()


def test_no_commands_unknown_topics_and_a_daemon_restart(x_env, fake, tmp_path):
    term, _ = xterm(x_env, tmp_path / "typed")
    client = start_type(x_env, fake, tmp_path, "--no-commands", "--end", "\\n")
    try:
        fake.publish(final(1, "Comma and period stay words."))
        first = "Comma and period stay words.\n"
        assert term.wait_for(first) == first
        envelope = fake.next_envelope()
        fake.publish_raw([b"stenod.v1.someday", json.dumps({"v": 1, "type": "someday", **envelope}).encode()])
        topic, body = encode(stamp(final(2, "Extra fields too."), fake.session, fake.next_envelope()["seq"]))
        fake.publish_raw([topic, body[:-1] + b',"added_later":{"x":1}}'])
        assert term.wait_for(first + "Extra fields too.\n") == first + "Extra fields too.\n"
        fake.restart()
        fake.publish(final(1, "After the restart."))
        expected = first + "Extra fields too.\nAfter the restart.\n"
        assert term.wait_for(expected) == expected
    finally:
        assert client.stop() == 0
        term.close()


def test_type_last_seconds(x_env, endpoint, tmp_path):
    now = datetime.now(timezone.utc)
    journal = Journal(tmp_path / "journal")  # the finals of an earlier run, which the snapshot serves
    session = str(uuid.uuid4())

    def add(utt, text, age_s, dictation=True):
        wall = int((now - timedelta(seconds=age_s)).timestamp() * 1e9)
        event = dataclasses.replace(final(utt, text), dictation=dictation)
        journal.append(encode(stamp(event, session, utt, wall_ns=wall))[1])

    add(1, "Too old.", 120)
    add(2, "First recent.", 20)
    add(3, "Not dictated.", 10, dictation=False)
    add(4, "Second recent.", 5)
    journal.close()
    term, _ = xterm(x_env, tmp_path / "typed")
    try:
        with FakeDaemon(endpoint("ev"), endpoint("ctl"), journal=tmp_path / "journal") as fake:
            out = subprocess.run(STENOD + ["type", "--last", "30s", "--events", fake.events, "--control",
                                           fake.control], env=x_env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert term.wait_for("First recent. Second recent. ") == "First recent. Second recent. "
    finally:
        term.close()


def test_clip_and_append(x_env, fake, tmp_path):
    for args, expected in (([], "Two."), (["--append"], "One. Two.")):
        client = ClientProcess(["clip", "--events", fake.events, "--control", fake.control, *args], x_env, tmp_path)
        client.wait_stderr("connected; copying with xclip")
        fake.publish(final(len(fake.finals) + 1, "One."))
        assert wait_clipboard(x_env, "One.") == "One."
        fake.publish(dataclasses.replace(final(len(fake.finals) + 1, "Room."), dictation=False))
        fake.publish(final(len(fake.finals) + 1, "Two."))
        assert wait_clipboard(x_env, expected) == expected
        assert client.stop() == 0


def test_paste_backend_into_a_tk_entry_restores_the_clipboard(x_env, fake, tmp_path):
    script = tmp_path / "entry.py"
    script.write_text(TK_ENTRY)
    entry = Terminal([sys.executable, str(script), str(tmp_path / "entry")], x_env, tmp_path / "entry")
    wid = x(x_env, "search", "--sync", "--onlyvisible", "--classname", "stenod-entry").split()[0]
    x(x_env, "windowfocus", "--sync", wid)
    subprocess.run(["xclip", "-selection", "clipboard", "-in"], input="kept ✓", text=True, env=x_env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=True)
    client = start_type(x_env, fake, tmp_path, "--backend", "paste")
    text = "Pasted: Naïve café — über ÉTÉ."
    try:
        fake.publish(final(1, text))
        assert entry.wait_for(text + " ") == text + " "
        assert wait_clipboard(x_env, "kept ✓") == "kept ✓"
        fake.publish(final(2, "Scratch that."))
        assert entry.wait_for("") == ""
    finally:
        client.stop()
        entry.close()


@pytest.mark.parametrize("cls", [XclipClipboard, XselClipboard])
def test_x11_clipboards_round_trip(cls, xvfb, monkeypatch):
    require("xsel")
    monkeypatch.setenv("DISPLAY", xvfb.display)
    board = cls()
    assert board.unavailable() is None
    board.write("Ünïcode — 🎉\nsecond line")
    assert board.read() == "Ünïcode — 🎉\nsecond line"
    board.clear()
    assert not board.read()


def test_a_backend_failing_at_run_time_falls_back(xvfb, tmp_path, monkeypatch, stenod_env):
    env = {**client_env(stenod_env, xvfb.env), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    term, _ = xterm(env, tmp_path / "typed")
    monkeypatch.setenv("DISPLAY", xvfb.display)
    said: list[str] = []
    typer = FallbackTyper([YdotoolTyper(), XdotoolTyper()], said.append)  # no uinput here: ydotool fails
    try:
        typer.type_text("Fell back. ")
        typer.type_text("Again.")
        assert term.wait_for("Fell back. Again.") == "Fell back. Again."
        assert len(said) == 1 and "ydotool failed" in said[0] and "using xdotool" in said[0]
    finally:
        term.close()


def test_help_has_examples():
    for cmd in ("type", "clip"):
        out = subprocess.run(STENOD + [cmd, "--help"], capture_output=True, text=True, timeout=30,
                             env={**os.environ})
        assert out.returncode == 0 and "examples:" in out.stdout and f"stenod {cmd}" in out.stdout

"""The caption page in headless Chromium against a stand-in daemon: URL parameters, partials and
finals, the Clone rule in the page (a gap in seq asks for a snapshot), missed events recovered,
restarts and an absent daemon, and the server going away and coming back."""

from __future__ import annotations

import json

import pytest

from caption_fixtures import chromium, start_web, wait_until  # noqa: F401
from fake_daemon import FakeDaemon, final, partial

# Record what the page sends on its WebSocket (installed before the page's own scripts run).
SPY = """
window.sentOnSocket = [];
const realSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) { window.sentOnSocket.push(data); return realSend.call(this, data); };
"""


def lines(driver) -> list[tuple[str, str]]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#captions .line')].map(e => [e.className, e.textContent])")


def notice(driver) -> str:
    return driver.execute_script("return document.getElementById('notice').textContent")


@pytest.fixture
def env(stenod_env, tmp_path):
    return {**stenod_env, "XDG_CONFIG_HOME": str(tmp_path / "config")}


@pytest.fixture
def spied(chromium):
    script = chromium.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SPY})
    yield chromium
    chromium.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


def test_caption_page_follows_the_daemon(env, endpoint, spied):
    driver = spied
    ev, ct = endpoint("events"), endpoint("control")
    web = start_web(env, ev, ct)
    try:
        driver.get(web.address("?lines=2&size=30&color=ffd700&partial=00ff00&bg=transparent&font=Serif&fade=0"))
        wait_until(lambda: "waiting for stenod" in notice(driver), 15, "the absent-daemon notice")
        style = driver.execute_script(
            "const s = getComputedStyle(document.querySelector('.captions'));"
            "return [s.backgroundColor, getComputedStyle(document.documentElement).getPropertyValue('--size'),"
            "        getComputedStyle(document.documentElement).getPropertyValue('--fg')]")
        assert style == ["rgba(0, 0, 0, 0)", "30px", "#ffd700"]
        with FakeDaemon(ev, ct) as daemon:
            daemon.publish(final(1, "Said before the page connected."))
            wait_until(lambda: lines(driver) == [["line final", "Said before the page connected."]], 15,
                       "the snapshot's final")
            assert notice(driver) == ""
            daemon.publish(partial(2, 1, "second", 3))
            daemon.publish(partial(2, 3, "second utterance", 7))
            wait_until(lambda: lines(driver)[-1:] == [["line partial", "second utterance"]], 10, "the partial")
            daemon.publish(final(2, "Second utterance."))
            daemon.publish(final(3, "Third utterance."))
            wait_until(lambda: [t for _, t in lines(driver)] == ["Second utterance.", "Third utterance."], 10,
                       "the last two finals (lines=2)")

            # An event the bridge cannot decode (a topic from a newer daemon) still takes a seq: the
            # page sees a gap and asks for a snapshot.
            envelope = daemon.next_envelope()
            daemon.publish_raw([b"stenod.v1.future.thing", json.dumps({"v": 1, "type": "future.thing",
                                                                      **envelope}).encode()])
            daemon.publish(final(4, "After the unknown event."))
            wait_until(lambda: "snapshot" in driver.execute_script("return window.sentOnSocket"), 10,
                       "the page to ask for a snapshot after the gap")
            wait_until(lambda: lines(driver)[-1][1] == "After the unknown event.", 10, "the next final")

            # A final the bridge missed comes back from the daemon's snapshot.
            daemon.publish(final(5, "This one was lost on the way."), lose=True)
            daemon.publish(final(6, "And this one arrived."))
            wait_until(lambda: [t for _, t in lines(driver)] == ["This one was lost on the way.",
                                                                 "And this one arrived."], 10, "the lost final")

            daemon.restart()
            daemon.publish(final(1, "New session, first words."))
            wait_until(lambda: "restarted" in notice(driver), 10, "the restart notice")
            wait_until(lambda: [t for _, t in lines(driver)] == ["New session, first words."], 10,
                       "only the new session's line")
        wait_until(lambda: "not responding" in notice(driver), 15, "the notice that the daemon is gone")
    finally:
        assert web.stop() == 0
    wait_until(lambda: "lost the connection" in notice(driver), 15, "the notice that the server is gone")
    web = start_web(env, ev, ct, listen=web.url.removeprefix("http://").rstrip("/"))
    try:  # the same address again: the page reconnects by itself
        wait_until(lambda: "waiting for stenod" in notice(driver), 20, "the page to reconnect")
    finally:
        assert web.stop() == 0



def test_caption_page_with_the_token(env, endpoint, chromium):
    ev, ct = endpoint("events"), endpoint("control")
    with FakeDaemon(ev, ct) as daemon:
        daemon.publish(final(1, "Only with the token."))
        web = start_web(env, ev, ct, listen="127.0.0.2:0")
        try:
            chromium.get(web.address("?fade=1"))  # ?token=...: the page passes it on to /ws
            wait_until(lambda: [t for _, t in lines(chromium)] == ["Only with the token."], 15, "the final")
            wait_until(lambda: lines(chromium)[0][0] == "line final faded", 15, "the line to fade after 1 s")
            chromium.get(web.address("transcript"))
            href = wait_until(lambda: chromium.execute_script("return document.getElementById('dl-srt').href"),
                              10, "the SRT link")
            assert href.endswith(f"transcript.srt?token={web.token}")
            chromium.get(web.url)
            assert "401" in chromium.execute_script("return document.body.textContent")
        finally:
            assert web.stop() == 0

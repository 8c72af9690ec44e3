"""Corpus clips through the real daemon, with the caption page in headless Chromium and the overlay
under Xvfb: both show the published final, the transcript's SRT download parses, and both carry on
across a daemon restart."""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from selenium.webdriver.common.by import By

from caption_fixtures import chromium, find_window, geometry, screenshot, start_captions, start_web, wait_until  # noqa: F401
from conftest import free_endpoint
from daemon_helpers import Recorder, start_daemon
from test_subtitles import parse_srt

SHOTS = os.environ.get("STENOD_SHOTS_DIR")
"""Where to keep copies of the screenshots for looking at (unset: nowhere)."""


def page_finals(driver) -> list[str]:
    """The caption page's final lines, read in one go (the page redraws them every second)."""
    return driver.execute_script("return [...document.querySelectorAll('#captions .final')].map(e => e.textContent)")


def text_of(driver, element_id: str) -> str:
    return driver.execute_script(f"return document.getElementById('{element_id}').textContent")


def notice(driver) -> str:
    return text_of(driver, "notice")


def white_fraction(image) -> float:
    """Finished text (white on the overlay and the page)."""
    px = np.asarray(image).astype(int)
    return float(((px[..., 0] > 200) & (px[..., 1] > 200) & (px[..., 2] > 200)).mean())


def blue_fraction(image) -> float:
    """The overlay's partials and notices (its partial colour, PARTIAL, below)."""
    px = np.asarray(image).astype(int)
    return float(((px[..., 2] > 200) & (px[..., 2] - px[..., 0] > 80)).mean())


PARTIAL = "#7fb2ff"


def spoken(rec: Recorder) -> list[dict]:
    return [e for e in rec.events(("final",)) if e["text"].strip()]


def keep(path: Path, name: str) -> None:
    """Copy a screenshot to ``$STENOD_SHOTS_DIR``, if set."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SHOTS) / name)


@pytest.mark.slow
def test_clips_through_the_daemon_reach_browser_and_overlay(corpus, stenod_env, bundled_model, xvfb, chromium,
                                                            tmp_path):
    driver = chromium
    env = {**stenod_env, **xvfb.env, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    ev, ct = free_endpoint(tmp_path, "events"), free_endpoint(tmp_path, "control")
    first_clip, second_clip = corpus.clips[0], corpus.clips[1]
    web = start_web(env, ev, ct)
    overlay = start_captions(env, ev, ct, "--fade-s", "600", "--partial-colour", PARTIAL)
    rec = Recorder(ev, tmp_path / "events.jsonl")
    daemon = None
    try:
        driver.get(web.address("?size=40&lines=3"))
        wait_until(lambda: "waiting for stenod" in notice(driver), 20, "the page to say the daemon is absent")
        window = find_window(env, "stenod captions")
        g = geometry(env, window)
        before = screenshot(env, tmp_path / "overlay-before.png", window)

        daemon = start_daemon(env, ev, ct, "--source", f"file:{first_clip['path']}")
        finals = wait_until(lambda: spoken(rec), 180, "the first clip's final")
        published = finals[0]["text"].strip()
        shown = wait_until(lambda: page_finals(driver), 20, "the final in the page")
        assert shown == [published] and notice(driver) == ""
        words = set(re.findall(r"[a-z']+", published.lower()))
        assert len(words & set(re.findall(r"[a-z']+", first_clip["text"].lower()))) >= len(words) // 2
        page_shot = tmp_path / "page.png"
        driver.save_screenshot(str(page_shot))
        from PIL import Image
        assert white_fraction(Image.open(page_shot).convert("RGB")) > 0.002  # white caption text on the page
        keep(page_shot, "captions-browser.png")

        def overlay_shows(name: str, *, notice: bool, text: bool = True):
            img = screenshot(env, tmp_path / name, window)
            return img if (white_fraction(img) > 0.002, blue_fraction(img) > 0.001) == (text, notice) else None

        assert blue_fraction(before) > 0.001  # its "waiting for stenod" notice
        after = wait_until(lambda: overlay_shows("overlay-final.png", notice=False), 20, "the final in the overlay")
        assert after.size == (g.width, g.height) and after.tobytes() != before.tobytes()
        keep(tmp_path / "overlay-final.png", "captions-overlay.png")

        driver.get(web.address("transcript"))
        link = wait_until(lambda: driver.find_element(By.ID, "dl-srt").get_attribute("href"), 10, "the SRT link")
        wait_until(lambda: text_of(driver, "transcript"), 10, "the transcript")
        assert published in text_of(driver, "transcript")
        with urllib.request.urlopen(link, timeout=10) as r:
            srt = r.read().decode()
        blocks = parse_srt(srt)
        assert [b[3] for b in blocks] == [" ".join(published.split())]
        for number, start, end, _ in blocks:
            assert 0 <= start < end
        assert blocks[0][1] <= first_clip["speech"][0] * 1000 + 500  # roughly where the speech is

        # The daemon restarts with a new clip: the transcript page says so and carries on.
        daemon.terminate()
        assert daemon.wait(30) == 0
        wait_until(lambda: "not responding" in notice(driver), 20,
                   "the page to say the daemon is gone")
        rec.stop()  # it ends with the daemon; a new one follows the next daemon
        rec = Recorder(ev, tmp_path / "events-2.jsonl")
        daemon = start_daemon(env, ev, ct, "--source", f"file:{second_clip['path']}")
        wait_until(lambda: overlay_shows("overlay-restarted.png", notice=True, text=False), 30,
                   "the overlay's restart notice, the old session's line gone")
        second_final = wait_until(lambda: spoken(rec), 180, "the second clip's final")[0]
        assert second_final["session"] != finals[0]["session"]
        second = second_final["text"].strip()
        wait_until(lambda: "restarted" in text_of(driver, "transcript"), 20, "the restart note")
        wait_until(lambda: second in text_of(driver, "transcript"), 20, "the new final")
        assert published in text_of(driver, "transcript")  # the earlier session's lines stay, marked
        driver.save_screenshot(str(tmp_path / "transcript.png"))
        keep(tmp_path / "transcript.png", "transcript-browser.png")
        driver.get(web.address(""))
        assert wait_until(lambda: page_finals(driver), 20, "the caption page after the restart") == [second]
        # The overlay: the restart notice, then only the new final (not the old one).
        restarted = wait_until(lambda: overlay_shows("overlay-new-final.png", notice=False), 20,
                               "the new final alone in the overlay")
        assert restarted.tobytes() != after.tobytes()
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(30)
        rec.stop()
        assert overlay.stop() == 0
        assert web.stop() == 0

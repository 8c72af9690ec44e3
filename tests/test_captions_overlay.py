"""`stenod captions` under Xvfb against a stand-in daemon: what the window shows, that it stays on
top of a window mapped over it later, dragging, and following the daemon away and back."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from caption_fixtures import find_window, geometry, screenshot, stacking, start_captions, wait_until
from fake_daemon import FakeDaemon, final, partial

COVER = """
import sys, tkinter as tk
root = tk.Tk()
root.title("cover")
root.overrideredirect(True)
root.geometry(sys.argv[1])
root.configure(background="#ff0000")
root.mainloop()
"""


@pytest.fixture
def env(stenod_env, xvfb, tmp_path):
    return {**stenod_env, **xvfb.env, "XDG_CONFIG_HOME": str(tmp_path / "config")}


def crop(image, g):
    return image.crop((g.x, g.y, g.x + g.width, g.y + g.height))


def fraction(image, test) -> float:
    px = np.asarray(image).astype(int)
    return float(test(px[..., 0], px[..., 1], px[..., 2]).mean())


def red(r, g, b):
    return (r > 200) & (g < 60) & (b < 60)


def white(r, g, b):  # finished text (the colour option below)
    return (r > 200) & (g > 200) & (b > 200)


def green(r, g, b):  # partials and notices (the partial colour option below)
    return (g > 150) & (r < 100) & (b < 100)


def test_overlay_captions_on_top_and_reconnects(env, endpoint, tmp_path):
    ev, ct = endpoint("events"), endpoint("control")
    overlay = start_captions(env, ev, ct, "--colour", "#ffffff", "--partial-colour", "#00ff00", "--fade-s", "600",
                             "--set", "captions.raise_ms=300")
    cover = None
    try:
        window = find_window(env, "stenod captions")
        g = geometry(env, window)
        assert g.width == int(1280 * 0.8) and g.x == (1280 - g.width) // 2  # bottom-centre, 80 % wide
        assert 720 - 48 - g.height - 2 <= g.y <= 720 - 48 - g.height + 2
        shots = iter(range(1000))

        def region(where=None):
            return crop(screenshot(env, tmp_path / f"shot-{next(shots):03d}.png"), where or g)

        def showing(what: str, where=None, *, notice: bool, text: bool, timeout: float = 15):
            def check():
                img = region(where)
                has_notice, has_text = fraction(img, green) > 0.001, fraction(img, white) > 0.002
                return img if (has_notice, has_text) == (notice, text) else None
            return wait_until(check, timeout, what)

        waiting = showing("the 'waiting for stenod' notice", notice=True, text=False)
        with FakeDaemon(ev, ct) as daemon:
            daemon.wait_subscribed(15)
            empty = showing("the notice to go once the daemon answers", notice=False, text=False)
            daemon.publish(partial(1, 1, "the overlay shows", 4))
            showing("the partial", notice=True, text=False)
            daemon.publish(final(1, "The overlay shows this final line."))
            shown = showing("the final in place of the partial", notice=False, text=True)
            assert shown.tobytes() != empty.tobytes() != waiting.tobytes()
            # The window itself, as `import -window` sees it, holds the text too.
            own = screenshot(env, tmp_path / "window.png", window)
            assert own.size == (g.width, g.height) and fraction(own, white) > 0.002

            # A window mapped later, over the overlay, is stacked on top by the X server; the
            # overlay's periodic raise must put itself back above it.
            cover = subprocess.Popen([sys.executable, "-c", COVER, f"{g.width}x{g.height}+{g.x}+{g.y}"], env=env)
            cover_id = find_window(env, "cover")
            wait_until(lambda: stacking(env).index(window) > stacking(env).index(cover_id), 10,
                       "the overlay above the covering window")
            on_top = region()
            assert fraction(on_top, red) < 0.01 and fraction(on_top, white) > 0.002

            # Dragging moves it.
            subprocess.run(["xdotool", "mousemove", str(g.x + 30), str(g.y + 10), "mousedown", "1",
                            "mousemove", str(g.x + 80), str(g.y - 90), "mouseup", "1"], env=env, check=True)
            moved = wait_until(lambda: n if (n := geometry(env, window)).y < g.y - 50 else None, 10, "the drag")
            assert moved.x > g.x + 30

            daemon.restart()
            daemon.publish(final(1, "A new session carries on."))
            showing("the restart notice and the new final", moved, notice=True, text=True)
            showing("the new final once the notice passed", moved, notice=False, text=True)
        showing("a notice that the daemon is gone", moved, notice=True, text=True)
        with FakeDaemon(ev, ct) as daemon:
            daemon.wait_subscribed(15)
            daemon.publish(final(1, "Back again."))
            showing("the notice gone once the daemon is back", moved, notice=False, text=True, timeout=20)
        assert overlay.proc.poll() is None
    finally:
        if cover is not None:
            cover.terminate()
            cover.wait(10)
        assert overlay.stop() == 0


def map_state(env, window: int) -> str:
    out = subprocess.run(["xwininfo", "-id", str(window)], env=env, capture_output=True, text=True, timeout=10).stdout
    return re.search(r"Map State: (\w+)", out).group(1)


def viewable(env) -> set[int]:
    return {w for w in stacking(env) if map_state(env, w) == "IsViewable"}


def menu_item(env, before: set[int], item: int, items: int = 2) -> tuple[int, int]:
    """The centre of entry ``item`` of the popup menu that appeared (a top-level window mapped now)."""
    (menu,) = wait_until(lambda: viewable(env) - before, 10, "the popup menu")
    m = geometry(env, menu)
    return m.x + m.width // 2, m.y + int(m.height * (item + 0.5) / items)


def test_right_click_hides_until_the_next_caption_and_quits(env, endpoint):
    ev, ct = endpoint("events"), endpoint("control")
    with FakeDaemon(ev, ct) as daemon:
        overlay = start_captions(env, ev, ct)
        try:
            window = find_window(env, "stenod captions")
            g = geometry(env, window)
            daemon.wait_subscribed(15)

            def right_click_and_choose(item: int) -> None:
                before = viewable(env)
                subprocess.run(["xdotool", "mousemove", str(g.x + 20), str(g.y + 20), "click", "3"], env=env,
                               check=True)
                x, y = menu_item(env, before, item)
                subprocess.run(["xdotool", "mousemove", str(x), str(y), "sleep", "0.3", "click", "1"], env=env,
                               check=True)

            right_click_and_choose(0)  # "Hide until the next caption"
            wait_until(lambda: map_state(env, window) == "IsUnMapped", 10, "the overlay to hide")
            daemon.publish(final(1, "Shown again."))
            wait_until(lambda: map_state(env, window) == "IsViewable", 10, "the overlay to come back")
            right_click_and_choose(1)  # "Quit"
            assert overlay.proc.wait(10) == 0
        finally:
            overlay.stop()

"""Helpers and fixtures for the caption clients: `stenod web` and `stenod captions` processes,
headless Chromium through Selenium, and X11 screenshots and window lookups under Xvfb."""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from model_fixtures import STENOD

URL_LINE = re.compile(r"captions at (http://\S+?)(\?token=(\S+))?\s+transcript at")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,720")


# ------------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """A stenod client process whose stderr is collected line by line in a thread."""

    proc: subprocess.Popen
    lines: queue.Queue = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_line(self, pattern: str | re.Pattern, timeout: float) -> re.Match:
        """The first stderr line (from now on, or already seen) matching ``pattern``."""
        rx = re.compile(pattern)
        for line in self.seen:
            if m := rx.search(line):
                return m
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {rx.pattern!r} within {timeout} s; "
                                     f"exit code {self.proc.poll()}; stderr: {''.join(self.seen)[-2000:]}") from None
            self.seen.append(line)
            if m := rx.search(line):
                return m

    def stop(self, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("process did not exit on SIGTERM") from None


@dataclass
class WebServer(Proc):
    url: str = ""
    token: str | None = None

    def address(self, path: str = "", *, token: bool = True) -> str:
        """``url`` + ``path`` with ``?token=`` when the server has one."""
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path}{sep}token={self.token}" if token and self.token else f"{self.url}{path}"


def start_web(env: dict, events: str, control: str, *args: str, listen: str = "127.0.0.1:0") -> WebServer:
    proc = subprocess.Popen(STENOD + ["web", "--events", events, "--control", control, "--listen", listen, *args],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    server = WebServer(proc)
    m = server.wait_line(URL_LINE, 30)
    server.url, server.token = m.group(1), m.group(3)
    return server


def start_captions(env: dict, events: str, control: str, *args: str) -> Proc:
    return Proc(subprocess.Popen(STENOD + ["captions", "--events", events, "--control", control, *args], env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True))


# ------------------------------------------------------------------------------- X11


@dataclass(frozen=True)
class Geometry:
    x: int
    y: int
    width: int
    height: int


def find_window(env: dict, name: str, timeout: float = 30) -> int:
    """The id of the mapped window called ``name``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{name}$"], env=env,
                             capture_output=True, text=True, timeout=10)
        ids = out.stdout.split()
        if ids:
            return int(ids[0])
        time.sleep(0.2)
    raise AssertionError(f"no visible window named {name!r}")


def geometry(env: dict, window: int) -> Geometry:
    out = subprocess.run(["xwininfo", "-id", str(window)], env=env, capture_output=True, text=True, timeout=10,
                         check=True).stdout
    value = {k: int(re.search(rf"{k}:\s+(-?\d+)", out).group(1))
             for k in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")}
    return Geometry(*value.values())


def stacking(env: dict) -> list[int]:
    """Top-level windows, bottom to top (the X server's stacking order: no window manager here)."""
    out = subprocess.run(["xwininfo", "-root", "-children"], env=env, capture_output=True, text=True, timeout=10,
                         check=True).stdout
    ids = [int(m, 16) for m in re.findall(r"^\s+(0x[0-9a-f]+)", out, re.MULTILINE)]
    return ids[::-1]  # xwininfo lists the top first


def screenshot(env: dict, path: Path, window: int | str = "root"):
    """``import -window`` into ``path``; returns it opened as an RGB PIL image."""
    from PIL import Image

    subprocess.run(["import", "-window", str(window), str(path)], env=env, check=True, timeout=30,
                   capture_output=True)
    return Image.open(path).convert("RGB")


# ------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """Headless Debian Chromium driven by Selenium through the system chromedriver."""
    for program in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(program) is None:
            pytest.fail(f"missing {program} (run scripts/setup.sh)", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="stenod-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it returns something true; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)

"""A headless sway for the Wayland tests, run as an unprivileged user (sway refuses root).

The compositor runs as user ``stenodwl`` (created if missing) with its own 0700 runtime dir; test
programs (foot, wtype, wl-copy, stenod) keep running as the test's user and reach it through the
absolute path of its socket in ``WAYLAND_DISPLAY`` and its IPC socket in ``SWAYSOCK``.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

USER = "stenodwl"
CONFIG = """\
output HEADLESS-1 resolution 1280x720
default_border none
focus_on_window_activation focus
"""


@dataclass
class Sway:
    """A running headless sway; ``env`` holds ``WAYLAND_DISPLAY``, ``SWAYSOCK`` and a private
    ``XDG_RUNTIME_DIR`` for the clients."""

    env: dict[str, str] = field(default_factory=dict)
    log: Path = Path()

    def msg(self, *args: str) -> Any:
        out = subprocess.run(["swaymsg", "-r", *args], env={**os.environ, **self.env}, capture_output=True,
                             text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    def focused(self) -> dict | None:
        def walk(node: dict) -> dict | None:
            if node.get("focused"):
                return node
            for child in node.get("nodes", []) + node.get("floating_nodes", []):
                if found := walk(child):
                    return found
            return None
        return walk(self.msg("-t", "get_tree"))

    def wait_focused(self, pid: int, timeout: float = 20) -> dict:
        """Wait until a window of process ``pid`` has the focus; its tree node."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            node = self.focused()
            if node and node.get("pid") == pid:
                return node
            time.sleep(0.1)
        raise AssertionError(f"no window of pid {pid} got the focus; focused: {self.focused()}")

    def focus(self, con_id: int) -> None:
        self.msg(f"[con_id={con_id}] focus")


def _user_ids() -> tuple[int, int] | None:
    """(uid, gid) of the unprivileged user sway runs as, creating it if needed; None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                       check=True, capture_output=True, timeout=30)
        entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


@pytest.fixture(scope="session")
def sway() -> Iterator[Sway]:
    for program in ("sway", "swaymsg", "foot", "wtype", "wl-copy", "wl-paste"):
        if shutil.which(program) is None:
            pytest.fail(f"missing program: {program} (run scripts/setup.sh)", pytrace=False)
    ids = _user_ids()
    root = Path(tempfile.mkdtemp(prefix="stenod-sway-", dir="/tmp"))
    root.chmod(0o755)
    runtime, client_runtime = root / "run", root / "client-run"
    runtime.mkdir(mode=0o700)
    client_runtime.mkdir(mode=0o700)
    config = root / "config"
    config.write_text(CONFIG)
    config.chmod(0o644)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "XDG_RUNTIME_DIR": str(runtime),
           "WLR_BACKENDS": "headless", "WLR_RENDERER": "pixman", "WLR_LIBINPUT_NO_DEVICES": "1"}
    cmd = ["sway", "-c", str(config)]
    if ids is not None:
        os.chown(runtime, *ids)
        cmd = ["runuser", "-u", USER, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()], *cmd]
    log = root / "sway.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            sockets = [p for p in runtime.glob("wayland-*") if not p.name.endswith(".lock")]
            ipc = list(runtime.glob("sway-ipc.*.sock"))
            if sockets and ipc:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"headless sway did not start (exit {proc.poll()}):\n{log.read_text()[-3000:]}",
                            pytrace=False)
            time.sleep(0.1)
        s = Sway(env={"WAYLAND_DISPLAY": str(sockets[0]), "SWAYSOCK": str(ipc[0]),
                      "XDG_RUNTIME_DIR": str(client_runtime)}, log=log)
        deadline = time.monotonic() + 10
        while subprocess.run(["swaymsg", "-t", "get_version"], env={**os.environ, **s.env},
                             capture_output=True, timeout=10).returncode != 0:
            if time.monotonic() > deadline:
                pytest.fail(f"sway does not answer on {ipc[0]}:\n{log.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.1)
        yield s
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # runuser and sway: the whole new session
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(root, ignore_errors=True)

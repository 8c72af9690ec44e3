"""The systemd units: installed by `stenod service install`, verified by `systemd-analyze verify`,
and removed again by `uninstall`."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from model_fixtures import STENOD

UNITS = ("stenod.service", "stenod-captions.service", "stenod-type.service")


@pytest.fixture
def home(tmp_path, stenod_env):
    env = {**stenod_env, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    return tmp_path, env


def test_install_links_units_that_systemd_analyze_accepts(home):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze missing (Debian package systemd; run scripts/setup.sh)", pytrace=False)
    tmp, env = home
    out = subprocess.run(STENOD + ["service", "install"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "systemctl --user daemon-reload" in out.stdout and "systemctl --user enable --now stenod.service" in out.stdout
    unit_dir = tmp / "config" / "systemd" / "user"
    links = [unit_dir / u for u in UNITS]
    assert all(p.is_symlink() and p.resolve().parent == tmp / "data" / "stenod" / "systemd" for p in links)
    daemon = links[0].read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in daemon
    assert " -m stenod run" in daemon and "%h/.local/bin" not in daemon
    for client in links[1:]:
        text = client.read_text()
        assert "PartOf=stenod.service" in text and "After=stenod.service" in text
    check = subprocess.run(["systemd-analyze", "verify", *map(str, links)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    # a broken unit is caught: the check is real
    bad = tmp / "broken.service"
    bad.write_text(daemon.replace("Type=notify", "Type=notifyy"))
    check = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True, text=True, timeout=60)
    assert check.returncode != 0 or "notifyy" in check.stderr

    status = subprocess.run(STENOD + ["service", "status"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and status.stdout.count("linked from") == 3, status.stdout
    again = subprocess.run(STENOD + ["service", "install"], env=env, capture_output=True, text=True, timeout=30)
    assert again.returncode == 0, again.stderr  # idempotent
    out = subprocess.run(STENOD + ["service", "uninstall"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "systemctl --user disable --now" in out.stdout
    assert not any(p.is_symlink() or p.exists() for p in links)


def test_install_refuses_to_replace_a_foreign_unit(home):
    tmp, env = home
    unit_dir = tmp / "config" / "systemd" / "user"
    unit_dir.mkdir(parents=True)
    (unit_dir / "stenod.service").write_text("[Service]\nExecStart=/bin/true\n")
    out = subprocess.run(STENOD + ["service", "install"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "not stenod's link" in out.stderr
    assert (unit_dir / "stenod.service").read_text().startswith("[Service]")

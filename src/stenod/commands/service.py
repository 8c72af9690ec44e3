"""`stenod service install|uninstall|status`: the systemd user units of the daemon and its clients.

`install` writes the units shipped in `stenod/systemd/` with `ExecStart` pointing at this
installation (`<python> -m stenod`) into `$XDG_DATA_HOME/stenod/systemd/`, links them into the
user unit directory (`$XDG_CONFIG_HOME/systemd/user/`) and prints the `systemctl --user` lines to
run; it runs nothing itself.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

UNITS = ("stenod.service", "stenod-captions.service", "stenod-type.service")
TEMPLATE_EXEC = "%h/.local/bin/stenod"


def register(sub) -> None:
    p = sub.add_parser(
        "service", help="install, remove or inspect the systemd user units",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Link stenod's systemd user units (the daemon, and the caption and typing clients bound "
                    "to it with PartOf=/After=) into your user unit directory, remove them, or show their "
                    "state. Prints the systemctl --user lines to run.",
        epilog="examples:\n  stenod service install\n  systemctl --user enable --now stenod.service\n"
               "  stenod service status\n  stenod service uninstall")
    p.add_argument("action", choices=("install", "uninstall", "status"))
    p.add_argument("--unit-dir", type=Path, metavar="DIR",
                   help="user unit directory (default $XDG_CONFIG_HOME/systemd/user)")
    p.set_defaults(func=run)


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var, "")
    return Path(base) if os.path.isabs(base) else Path.home() / fallback


def unit_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / "systemd" / "user"


def files_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / "stenod" / "systemd"


def exec_command() -> str:
    """How systemd starts this installation of stenod."""
    return f"{shlex.quote(sys.executable)} -m stenod"


def render(name: str) -> str:
    text = resources.files("stenod").joinpath("systemd", name).read_text()
    return text.replace(TEMPLATE_EXEC, exec_command())


def install(target: Path) -> list[Path]:
    from stenod.cli import UserError

    files_dir().mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    links = []
    for name in UNITS:
        src, link = files_dir() / name, target / name
        src.write_text(render(name))
        if link.is_symlink() or link.exists():
            if not (link.is_symlink() and link.resolve() == src.resolve()):
                raise UserError(f"{link} exists and is not stenod's link: move it away first")
            link.unlink()
        link.symlink_to(src)
        links.append(link)
    return links


def uninstall(target: Path) -> list[Path]:
    removed = []
    for name in UNITS:
        src, link = files_dir() / name, target / name
        if link.is_symlink() and link.resolve() == src.resolve():
            link.unlink()
            removed.append(link)
        src.unlink(missing_ok=True)
    return removed


def _systemctl_state(name: str) -> str:
    if shutil.which("systemctl") is None:
        return "systemctl not found"
    try:
        out = subprocess.run(["systemctl", "--user", "is-active", name], capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return "systemctl --user did not answer"
    state = out.stdout.strip()
    return state if state else f"unknown ({(out.stderr.strip().splitlines() or ['no user manager'])[-1]})"


def run(args) -> int:
    target = args.unit_dir or unit_dir()
    if args.action == "install":
        for link in install(target):
            print(f"linked {link} -> {link.resolve()}")
        print("now run:")
        print("  systemctl --user daemon-reload")
        print("  systemctl --user enable --now stenod.service")
        print("optional clients, started and stopped with the daemon:")
        print("  systemctl --user enable stenod-captions.service stenod-type.service")
    elif args.action == "uninstall":
        print("first run:")
        print(f"  systemctl --user disable --now {' '.join(reversed(UNITS))}")
        for link in uninstall(target):
            print(f"removed {link}")
        print("then run:")
        print("  systemctl --user daemon-reload")
    else:
        for name in UNITS:
            link = target / name
            where = f"linked from {link}" if link.is_symlink() else "not installed"
            print(f"{name}: {where}; {_systemctl_state(name)}")
    return 0

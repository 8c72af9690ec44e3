"""Focus probes for the focus-drift guard: X11 (the EWMH active window, else the input focus),
sway (``swaymsg -t get_tree``, the focused node) and Hyprland (``hyprctl activewindow -j``).
Other desktops (GNOME and KDE on Wayland) do not tell other programs which window has the focus:
there the guard is off (:class:`NoFocus`)."""

from __future__ import annotations

import json
import os
from typing import Any

from stenod.clients.output.base import OutputError, Window, missing, run_tool


class X11Focus:
    name = "x11"

    def unavailable(self) -> str | None:
        if not os.environ.get("DISPLAY"):
            return "no X11 display (DISPLAY is not set)"
        return missing("xdotool")

    def current(self) -> Window | None:
        done = run_tool(["xdotool", "getactivewindow"], check=False)
        if done.returncode != 0:  # no EWMH window manager: the X input focus itself
            done = run_tool(["xdotool", "getwindowfocus"], check=False)
        wid = done.stdout.strip()
        if done.returncode != 0 or not wid:
            return None
        name = run_tool(["xdotool", "getwindowclassname", wid], check=False)
        return Window(wid, name.stdout.strip() if name.returncode == 0 else "")


def _focused_node(node: dict[str, Any]) -> dict[str, Any] | None:
    if node.get("focused"):
        return node
    for child in [*node.get("nodes", []), *node.get("floating_nodes", [])]:
        if isinstance(child, dict) and (found := _focused_node(child)):
            return found
    return None


class SwayFocus:
    name = "sway"

    def unavailable(self) -> str | None:
        if not os.environ.get("SWAYSOCK"):
            return "not a sway session (SWAYSOCK is not set)"
        return missing("swaymsg")

    def current(self) -> Window | None:
        try:
            tree = json.loads(run_tool(["swaymsg", "-r", "-t", "get_tree"]).stdout)
        except ValueError:
            raise OutputError("swaymsg -t get_tree returned malformed JSON") from None
        node = _focused_node(tree) if isinstance(tree, dict) else None
        if node is None:
            return None
        props = node.get("window_properties") or {}
        app = node.get("app_id") or (props.get("class") if isinstance(props, dict) else "") or ""
        return Window(str(node.get("id")), str(app))


class HyprlandFocus:
    name = "hyprland"

    def unavailable(self) -> str | None:
        if not os.environ.get("HYPRLAND_INSTANCE_SIGNATURE"):
            return "not a Hyprland session (HYPRLAND_INSTANCE_SIGNATURE is not set)"
        return missing("hyprctl")

    def current(self) -> Window | None:
        try:
            window = json.loads(run_tool(["hyprctl", "activewindow", "-j"]).stdout)
        except ValueError:
            raise OutputError("hyprctl activewindow -j returned malformed JSON") from None
        if not isinstance(window, dict) or not window.get("address"):
            return None
        return Window(str(window["address"]), str(window.get("class") or ""))


class NoFocus:
    """Where the focused window cannot be told: the guard is off."""

    name = "none"

    def unavailable(self) -> str | None:
        return None

    def current(self) -> Window | None:
        return None

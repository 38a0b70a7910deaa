"""The tray menu, clicked end to end, as a user does it.

A system tray (trayer, an XEmbed tray) runs on Xvfb beside the app. With no
StatusNotifierItem host on the session bus, the app's indicator shows as an
XEmbed icon in that tray; xdotool clicks it, the real GTK menu opens, and
its items are chosen with the keyboard (Down, Right into a submenu, End for
the last item, Return). Each state's menu is photographed into
test-artifacts/tray/, and each item is judged by what it does:

  signed out   Sign in… opens the dashboard window;
  signed in    Configure agents ▸ Cursor writes Cursor's entry (in the
               scratch HOME); Pause relay pauses, and Cursor's call is
               refused; chosen again it resumes; Start at login registers
               the app with the desktop's autostart folder;
  any          Quit ends the app, and with it the daemon.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from desktop import Desktop, settle
from test_tray_e2e import call_tool, wait_until

AGENT = "cursor"


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[Desktop]:
    d = Desktop(tmp_path, tray_host=True)
    try:
        yield d
    finally:
        d.stop()


class TrayMenu:
    """The tray icon in trayer, and its menu."""

    def __init__(self, desktop: Desktop) -> None:
        self.d = desktop
        self.panel = wait_until(
            "the tray panel", lambda: desktop.xdo("search", "--onlyvisible", "--class", "trayer"), 20
        ).split()[0]

    def icon(self) -> tuple[int, int]:
        """The middle of trayer's panel, sized to its one icon. Read at each
        click: the panel resizes once the icon docks in it."""
        geometry = dict(line.split("=", 1) for line in self.d.xdo("getwindowgeometry", "--shell", self.panel).splitlines())
        return (
            int(geometry["X"]) + int(geometry["WIDTH"]) // 2,
            int(geometry["Y"]) + int(geometry["HEIGHT"]) // 2,
        )

    def open(self, shot: str | None = None) -> None:
        before = set(self.d.popups())

        def click_until_open() -> bool:
            # A click that lands before the icon has docked opens nothing:
            # click again (only while no menu is open, so it never closes one).
            x, y = self.icon()
            self.d.xdo("mousemove", str(x), str(y), "click", "1")
            try:
                wait_until("the menu to open", lambda: set(self.d.popups()) - before, 3)
                return True
            except AssertionError:
                return False

        wait_until("the menu to open", click_until_open, 15)
        settle()
        if shot:
            self.d.shot(shot)

    def choose(self, *keys: str) -> None:
        """Moves through the open menu with `keys`, then presses Return."""
        self.d.xdo("key", "--delay", "120", *keys, "Return")
        wait_until("the menu to close", lambda: not self.d.popups(), 10)
        settle()


def status(d: Desktop) -> Any:
    return d.control("GET", "/api/status")


@pytest.mark.timeout(240)
def test_each_tray_menu_item_does_what_it_says(desktop: Desktop) -> None:
    report = lambda: f"--- tray log ---\n{desktop.logs()[-6000:]}"  # noqa: E731
    desktop.launch()
    assert "tray icon created" in desktop.logs(), report()
    # The dashboard opens at launch; closing it leaves the tray.
    for window in wait_until("the dashboard window", desktop.windows):
        desktop.close(window)
    wait_until("the window to close", lambda: not desktop.windows())
    menu = TrayMenu(desktop)
    desktop.shot("menu-0-tray-icon")

    # Signed out: Sign in… (the first item that can be chosen) opens the dashboard.
    menu.open("menu-1-signed-out")
    menu.choose("Down")
    titles = wait_until("the dashboard from the menu", lambda: list(desktop.windows().values()))
    assert any("Coder Bridge" in t for t in titles), titles
    desktop.shot("menu-2-sign-in-opened-the-dashboard")
    for window in desktop.windows():
        desktop.close(window)
    wait_until("the window to close", lambda: not desktop.windows())

    # Signed in (the dashboard's "Try the demo").
    desktop.control("POST", "/api/signin", {"demo": True})
    wait_until("the demo relay", lambda: status(desktop)["relay"]["state"] == "connected")
    wait_until("the tray to follow", lambda: "icon=Connected" in desktop.logs())
    agents = [a["name"] for a in desktop.control("GET", "/api/agents")]
    menu.open("menu-3-signed-in")
    # Sign out, Open dashboard, Configure agents ▸, then down to Cursor.
    menu.choose("Down", "Down", "Down", "Right", *["Down"] * agents.index(AGENT))
    entry = wait_until("Cursor's entry", lambda: bridge_entry(desktop))
    assert entry["url"].startswith(desktop.origin()), entry
    assert next(a for a in desktop.control("GET", "/api/agents") if a["name"] == AGENT)["configured"]
    menu.open("menu-4-agent-configured")
    desktop.xdo("key", "Down", "Down", "Down", "Right")
    settle()
    desktop.shot("menu-5-configure-agents-submenu")
    desktop.xdo("key", "Escape", "Escape")
    wait_until("the menu to close", lambda: not desktop.popups(), 10)

    # Pause relay: the agent's call is refused until it is chosen again.
    menu.open()
    menu.choose("Down", "Down", "Down", "Down")
    wait_until("the relay to pause", lambda: status(desktop)["paused"])
    menu.open("menu-6-paused")
    desktop.xdo("key", "Escape")
    wait_until("the menu to close", lambda: not desktop.popups(), 10)
    refused = call_tool(entry["url"], entry.get("headers", {}), "coder_get_authenticated_user", {})
    text = "".join(b.text for b in refused.content if b.type == "text")
    assert refused.is_error and "paused" in text, text
    menu.open()
    menu.choose("Down", "Down", "Down", "Down")
    wait_until("the relay to resume", lambda: not status(desktop)["paused"])
    allowed = call_tool(entry["url"], entry.get("headers", {}), "coder_get_authenticated_user", {})
    assert not allowed.is_error, allowed

    # Start at login: registered with the desktop's autostart folder.
    autostart = Path(desktop.env["XDG_CONFIG_HOME"]) / "autostart"
    menu.open()
    menu.choose(*["Down"] * 5)
    wait_until("the autostart entry", lambda: list(autostart.glob("*.desktop")))
    menu.open("menu-7-start-at-login")
    desktop.xdo("key", "Escape")
    wait_until("the menu to close", lambda: not desktop.popups(), 10)

    # Quit: the last item ends the app and its daemon.
    origin = desktop.origin()
    menu.open()
    desktop.xdo("key", "--delay", "120", "End", "Return")
    wait_until("the app to quit", lambda: not desktop.running(), 30)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{origin}/healthz", timeout=5)
    assert "bridge core stopped" in desktop.logs(), report()
    assert "panicked" not in desktop.logs(), report()


def bridge_entry(d: Desktop) -> dict[str, Any] | None:
    path = Path(d.env["HOME"]) / ".cursor" / "mcp.json"
    if not path.exists():
        return None
    servers = json.loads(path.read_text()).get("mcpServers", {})
    return next((e for e in servers.values() if e.get("url", "").startswith(d.origin())), None)

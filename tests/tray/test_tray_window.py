"""The dashboard window lives only while it is open.

Closing it (the title bar's ×) destroys it with its webview: WebKit's web
process exits, while the tray app and its core run on. Opening it again
(a second launch, as from the desktop's menu or a terminal) builds a new
window, signed in through a fresh one-time ticket; the first ticket stays
spent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from desktop import Desktop, settle
from selenium import webdriver
from selenium.webdriver.common.by import By
from test_tray_e2e import wait_until

WEB_PROCESS = "WebKitWebProcess"
# The web process must be gone this soon after the window closed.
EXIT_DEADLINE = 20.0


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[Desktop]:
    d = Desktop(tmp_path, tray_host=False)
    try:
        yield d
    finally:
        d.stop()


def ticket_of(driver: webdriver.Remote) -> str:
    """The ticket this window was opened with. The page clears it from the
    address at once; the navigation record keeps the address it loaded."""
    loaded = driver.execute_script("return performance.getEntriesByType('navigation')[0].name")
    match = re.search(r"ticket=([A-Za-z0-9_-]+)", loaded)
    assert match, f"the window was not opened through a ticket: {loaded}"
    return match.group(1)


def signed_in_page(driver: webdriver.Remote) -> str:
    """The page's heading once it has talked to the core with its session."""
    wait_until(
        "the page's session",
        lambda: driver.execute_script("return sessionStorage.getItem('coder-bridge-session')"),
    )
    return wait_until("the page's heading", lambda: driver.find_element(By.CSS_SELECTOR, "h1").text)


@pytest.mark.timeout(180)
def test_closing_the_window_ends_its_web_process_and_reopening_takes_a_fresh_ticket(
    desktop: Desktop,
) -> None:
    report = lambda: f"--- tray log ---\n{desktop.logs()[-6000:]}"  # noqa: E731
    driver = desktop.launch_driven()
    assert signed_in_page(driver) == "Connect to Coder", report()
    first_ticket = ticket_of(driver)
    windows = wait_until("the dashboard window", desktop.windows)
    assert WEB_PROCESS in desktop.processes().values(), desktop.processes()
    desktop.shot("window-1-open")

    # Closed with its ×: the web process goes, the app and its core stay.
    (window,) = windows
    desktop.close(window)
    wait_until(
        "the web process to exit",
        lambda: WEB_PROCESS not in desktop.processes().values(),
        EXIT_DEADLINE,
    )
    assert desktop.running(), report()
    assert not desktop.windows()
    assert desktop.control("GET", "/api/status")["paused"] is False
    assert httpx.get(f"{desktop.origin()}/healthz", timeout=10).status_code == 200
    desktop.shot("window-2-closed")

    # Opened again from outside (a second launch hands over and exits). The
    # WebDriver session ended with its window; the new one is read from the
    # screen. Its title is the dashboard's own, which it only reaches
    # through a ticket `/auth` accepted: a spent one gets "Link expired".
    assert desktop.launch_again() == 0, report()
    wait_until("a web process again", lambda: WEB_PROCESS in desktop.processes().values())
    title = wait_until(
        "the reopened dashboard",
        lambda: next((t for t in desktop.windows().values() if t.endswith("· Coder Bridge")), None),
    )
    assert title == "Sign in · Coder Bridge", title
    settle(3)  # for the screenshot: the page's data arrives after its title
    desktop.shot("window-3-reopened")

    # The first window's ticket stays spent.
    answer = httpx.get(f"{desktop.origin()}/auth", params={"ticket": first_ticket}, timeout=10)
    assert answer.status_code == 401 and "expired" in answer.text, answer.text
    assert "panicked" not in desktop.logs(), report()

"""End to end: the real tray app, driven through tauri-driver and WebKitWebDriver.

Under Xvfb and a private D-Bus session (CI has no desktop), with HOME and the
XDG folders in a scratch directory:
  1. the app starts, hosts the core and its window shows the sign-in view;
  2. sign-in against coder-sim (auto-approve) completes: the window's sign-in
     page asks the app to open Coder's page, the app hands it to `$BROWSER`
     (a stand-in that follows the redirects like a browser would) and the
     window moves to Status with the user and a connected relay;
  3. an agent configured through the control API calls a state-changing
     tool, the prompt appears in the window, Allow once is clicked there, and
     the agent's call completes.
Screenshots of each step go to test-artifacts/tray/.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.remote.webelement import WebElement

ROOT = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 45.0


def bin_dir() -> Path:
    return Path(os.environ.get("CODER_BRIDGE_TEST_BIN_DIR", ROOT / "target" / "debug"))


def artifacts() -> Path:
    base = Path(os.environ.get("CODER_BRIDGE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    out = base / "tray"
    out.mkdir(parents=True, exist_ok=True)
    return out


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path.home() / ".cargo" / "bin"))
    if found is None:
        pytest.fail(f"{name} is missing (scripts/test installs it)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check: Callable[[], Any], timeout: float = STEP_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}" + (f": {last}" if last else ""))


def isolated_env(home: Path) -> dict[str, str]:
    """HOME and every XDG folder under `home`; nothing of the caller's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CODER_BRIDGE_", "XDG_", "DBUS_")) and k not in {"BROWSER", "DISPLAY"}
    }
    dirs = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_STATE_HOME": home / ".local" / "state",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_RUNTIME_DIR": home / "run",
        "TMPDIR": home / "tmp",
    }
    for key, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[key] = str(path)
    env.update(
        CODER_BRIDGE_SECRET_STORE="file",
        CODER_BRIDGE_LOG="info,coder_bridge_tray=debug",
        NO_COLOR="1",
    )
    return env


@dataclass
class Sim:
    url: str
    client_id: str
    client_secret: str


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    home = tmp_path / "sim"
    proc = subprocess.Popen(
        [str(bin_dir() / "coder-sim"), "--port", "0", "--auto-approve"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "coder-sim.log").open("w"),
        env=isolated_env(home),
        text=True,
    )
    values: dict[str, str] = {}
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while len(values) < 3 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        key, _, value = line.strip().partition("=")
        if key in {"CODER_SIM_URL", "CODER_SIM_CLIENT_ID", "CODER_SIM_CLIENT_SECRET"}:
            values[key] = value
    try:
        assert len(values) == 3, f"coder-sim did not start: {values}"
        yield Sim(values["CODER_SIM_URL"], values["CODER_SIM_CLIENT_ID"], values["CODER_SIM_CLIENT_SECRET"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def fake_browser(tmp_path: Path) -> tuple[Path, Path]:
    """A `$BROWSER` that loads the page and follows redirects (Coder's
    auto-approved consent page redirects to the app's loopback callback)."""
    log = tmp_path / "browser.log"
    script = tmp_path / "browser"
    script.write_text(
        f"""#!{sys.executable}
import sys, urllib.request
url = sys.argv[1]
with open({str(log)!r}, "a") as log:
    log.write(url.split("?")[0] + "\\n")
    with urllib.request.urlopen(url, timeout=20) as answer:
        log.write(f"status {{answer.status}}\\n")
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


@dataclass
class App:
    driver: webdriver.Remote
    env: dict[str, str]
    log: Path

    @property
    def config_dir(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "coder-bridge"

    def origin(self) -> str:
        info = json.loads((self.config_dir / "daemon.json").read_text())
        return f"http://127.0.0.1:{info['port']}"

    def control(self, method: str, path: str, body: Any = None) -> Any:
        token = (self.config_dir / "control-token").read_text().strip()
        answer = httpx.request(
            method,
            self.origin() + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=20,
        )
        answer.raise_for_status()
        return answer.json()

    def find(self, css: str, timeout: float = STEP_TIMEOUT) -> WebElement:
        return wait_until(
            f"{css} in the window", lambda: self.driver.find_element(By.CSS_SELECTOR, css), timeout
        )

    def text(self, css: str) -> str:
        return self.find(css).text

    def shot(self, name: str) -> Path:
        path = artifacts() / f"{name}.png"
        # Let WebKit paint what the DOM already holds (the first view can be
        # in the DOM a frame before it is on screen).
        self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "requestAnimationFrame(() => requestAnimationFrame(() => done()));"
        )
        time.sleep(0.3)
        assert self.driver.save_screenshot(str(path)), f"no screenshot {path}"
        return path

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    tray = bin_dir() / "coder-bridge-tray"
    assert tray.is_file(), f"{tray} is missing: cargo build -p coder-bridge-tray"
    for name in ("xvfb-run", "dbus-run-session", "WebKitWebDriver"):
        tool(name)
    driver_bin = tool("tauri-driver")
    env = isolated_env(tmp_path / "home")
    browser, _ = fake_browser(tmp_path)
    env.update(BROWSER=str(browser), CODER_BRIDGE_PORT="0")
    port, native = free_port(), free_port()
    log = tmp_path / "tray.log"
    # Its own session, so teardown can stop Xvfb, D-Bus, the drivers and
    # the app together through this one process group.
    proc = subprocess.Popen(
        [
            "xvfb-run", "-a", "-s", "-screen 0 1280x800x24",
            "dbus-run-session", "--",
            driver_bin, "--port", str(port), "--native-port", str(native),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    driver = None
    try:
        wait_until("tauri-driver to listen", lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True, 30)
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": str(tray)})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
        yield App(driver=driver, env=env, log=log)
    finally:
        if driver is not None:
            try:
                driver.quit()
            except WebDriverException:
                pass
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.copy(log, artifacts() / "tray.log")


def call_tool(url: str, headers: dict[str, str], name: str, args: dict[str, Any]) -> Any:
    from mcp import Client
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    async def go() -> Any:
        async with create_mcp_http_client(headers=headers) as http:
            # "legacy": the initialize handshake most agents speak today.
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                return await client.call_tool(name, args)

    return asyncio.run(asyncio.wait_for(go(), 90))


@pytest.mark.timeout(240)
def test_sign_in_and_answer_consent_in_the_tray_window(app: App, sim: Sim) -> None:
    report = lambda: f"--- tray log ---\n{app.logs()[-6000:]}"  # noqa: E731

    # 1. The window shows the core's UI, signed out.
    heading = app.find("h1")
    assert heading.text == "Connect to Coder", report()
    assert "ticket" not in app.driver.current_url, "the one-time ticket stayed in the address"
    app.shot("1-signed-out")
    logs = app.logs()
    assert "tray icon created" in logs or "no system tray available" in logs, report()

    # 2. Sign in with the client a Coder admin registered (coder-sim's demo app).
    app.find("#deployment-url").send_keys(sim.url)
    app.find("details.advanced summary").click()
    app.find("#client-id").send_keys(sim.client_id)
    app.find("#client-secret").send_keys(sim.client_secret)
    app.find("#signin-submit").click()
    user = app.find('[data-view="status"] #status-user', timeout=60)
    wait_until("the user on Status", lambda: "demo" in user.text)
    wait_until("a connected relay", lambda: app.text("#relay-state") == "Connected")
    assert app.text("#endpoint") == f"{app.origin()}/mcp"
    assert "opening the browser" in app.logs(), report()
    status = app.control("GET", "/api/status")
    assert status["signed_in"] and status["user"]["username"] == "demo", status
    app.shot("2-signed-in")

    # 3. An agent's state-changing call waits for an answer given in the window.
    app.control("POST", "/api/agents/cursor/configure", {"dry_run": False})
    cursor = json.loads((Path(app.env["HOME"]) / ".cursor" / "mcp.json").read_text())
    entry = next(e for e in cursor["mcpServers"].values() if e.get("url", "").startswith(app.origin()))
    outcome: dict[str, Any] = {}

    def agent() -> None:
        try:
            outcome["result"] = call_tool(
                entry["url"], entry.get("headers", {}), "coder_workspace_bash",
                {"workspace": "dev", "command": "echo hello-from-the-tray"},
            )
        except BaseException as e:  # noqa: BLE001 - reported by the test
            outcome["error"] = e

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    card = wait_until(
        "the consent prompt in the window",
        lambda: next(
            (c for c in app.driver.find_elements(By.CSS_SELECTOR, "[data-consent-id]") if "coder_workspace_bash" in c.text),
            None,
        ),
    )
    assert thread.is_alive(), f"the call ended before anyone answered: {outcome}"
    app.shot("3-consent-pending")
    card.find_element(By.CSS_SELECTOR, '[data-answer="allow_once"]').click()
    thread.join(60)
    assert not thread.is_alive(), "the allowed call did not finish"
    assert "error" not in outcome, f"{outcome.get('error')!r}\n{report()}"
    result = outcome["result"]
    text = "".join(b.text for b in result.content if b.type == "text")
    assert not result.is_error and "hello-from-the-tray" in text, text
    wait_until("the prompt to leave the window", lambda: not app.driver.find_elements(By.CSS_SELECTOR, "[data-consent-id]"))
    # The tray followed the core's pushes: signed out, connected, waiting,
    # connected. (The app's log reaches the file through the drivers, late.)
    def icons() -> list[str]:
        lines = app.logs().splitlines()
        return [line.split("icon=")[1].split()[0] for line in lines if "tray updated icon=" in line]

    wait_until("the tray to show each state", lambda: "WaitingForConsent" in icons() and icons()[-1] == "Connected", 20)
    assert icons()[0] == "SignedOut", icons()
    # And raised a desktop notification for the waiting call.
    # Headlined by the agent its token belongs to, never the name the client gives itself.
    assert re.search(r"notification title=\S.* wants to run coder_workspace_bash", app.logs()), report()
    # Recorded with the answer given (written off the call path: may lag).
    activity = wait_until(
        "the call in the activity record",
        lambda: app.control("GET", "/api/activity?tool=coder_workspace_bash"),
        15,
    )
    assert activity[0]["consent"] == "allowed_once", activity
    app.shot("4-answered")

"""A small desktop for the tray app: Xvfb, a D-Bus session bus and, when
asked, a system tray (trayer, an XEmbed tray), with the tray app launched
directly on it (no WebDriver), so a test can act on the app as a person
does: click the tray icon, close the window with its ×, launch the app again.

Everything runs in a scratch HOME; `Desktop.stop` ends every process started
here (each in its own process group).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.options import ArgOptions
from test_tray_e2e import artifacts, bin_dir, free_port, isolated_env, tool, wait_until
from Xlib import X, display, protocol
from Xlib.error import XError
from Xlib.xobject.drawable import Window

TRAY = "coder-bridge-tray"


class Desktop:
    def __init__(self, tmp_path: Path, *, tray_host: bool) -> None:
        self.tmp = tmp_path
        self.env = isolated_env(tmp_path / "home")
        self.env["CODER_BRIDGE_PORT"] = "0"
        self._procs: list[subprocess.Popen[Any]] = []
        self._drivers: list[webdriver.Remote] = []
        self.app: subprocess.Popen[Any] | None = None
        self.tray_pid = 0
        self.log = tmp_path / "tray.log"
        for name in ("Xvfb", "dbus-daemon", "xdotool", "import") + (("trayer",) if tray_host else ()):
            tool(name)
        xvfb = self._spawn(
            ["Xvfb", "-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            stdout=subprocess.PIPE,
        )
        assert xvfb.stdout is not None
        self.env["DISPLAY"] = ":" + xvfb.stdout.readline().decode().strip()
        bus = self._spawn(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1",
             f"--address=unix:path={tmp_path / 'bus'}"],
            stdout=subprocess.PIPE,
        )
        assert bus.stdout is not None
        self.env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().decode().strip()
        self.x = display.Display(self.env["DISPLAY"])
        if tray_host:
            self._spawn(
                ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                 "--height", "32", "--SetDockType", "true", "--transparent", "false"],
            )
            wait_until("the tray host", lambda: self.xdo("search", "--class", "trayer"), 20)

    def _spawn(self, args: list[str], **kw: Any) -> subprocess.Popen[Any]:
        kw.setdefault("stdout", subprocess.DEVNULL)
        proc = subprocess.Popen(
            args, env=self.env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, **kw,
        )
        self._procs.append(proc)
        return proc

    # -- the app --------------------------------------------------------

    def launch(self) -> None:
        """Starts the tray app (the first launch hosts the core)."""
        self.app = subprocess.Popen(
            [str(tray_binary())], env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.log.open("a"), start_new_session=True,
        )
        self._procs.append(self.app)
        self.tray_pid = self.app.pid
        wait_until("the dashboard to be ready", lambda: "dashboard ready" in self.logs(), 60)

    def launch_driven(self) -> webdriver.Remote:
        """Starts the tray app through tauri-driver and WebKitWebDriver, so
        the test can read its window's page too."""
        port, native = free_port(), free_port()
        self._spawn(
            [tool("tauri-driver"), "--port", str(port), "--native-port", str(native)],
            stdout=self.log.open("a"),
        )
        wait_until("tauri-driver to listen", lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True, 30)
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": str(tray_binary())})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
        self._drivers.append(driver)
        self.tray_pid = wait_until("the tray process", lambda: next(
            (pid for pid, name in descendants(self._procs[-1].pid).items() if name == TRAY), None
        ), 30)
        return driver

    def launch_again(self) -> int:
        """A second launch, as from the desktop's menu or a terminal: it hands
        over to the running app and exits."""
        done = subprocess.run(
            [str(tray_binary())], env=self.env, stdin=subprocess.DEVNULL,
            capture_output=True, timeout=30,
        )
        return done.returncode

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def config_dir(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "coder-bridge"

    def origin(self) -> str:
        info = json.loads((self.config_dir / "daemon.json").read_text())
        return f"http://127.0.0.1:{info['port']}"

    def control(self, method: str, path: str, body: Any = None) -> Any:
        token = (self.config_dir / "control-token").read_text().strip()
        answer = httpx.request(
            method, self.origin() + path, json=body,
            headers={"Authorization": f"Bearer {token}"}, timeout=30,
        )
        answer.raise_for_status()
        return answer.json()

    def processes(self) -> dict[int, str]:
        """The app's process and every one below it (WebKit's), by name."""
        return {self.tray_pid: TRAY} | descendants(self.tray_pid)

    def running(self) -> bool:
        """Alive (a zombie has exited, it is only not reaped yet)."""
        stat = _read(f"/proc/{self.tray_pid}/stat").rpartition(")")[2].split()
        return bool(stat) and stat[0] not in ("Z", "X")

    # -- the screen -----------------------------------------------------

    def xdo(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=20)
        return done.stdout.strip()

    def windows(self) -> dict[int, str]:
        """The app's mapped top-level windows and their titles."""
        pid_atom = self.x.intern_atom("_NET_WM_PID")
        name_atom, utf8 = self.x.intern_atom("_NET_WM_NAME"), self.x.intern_atom("UTF8_STRING")
        found = {}
        for w in self._top_level():
            try:
                owner = w.get_full_property(pid_atom, X.AnyPropertyType)
                if not owner or owner.value[0] != self.tray_pid:
                    continue
                title = w.get_full_property(name_atom, utf8)
            except XError:  # gone meanwhile
                continue
            found[w.id] = title.value.decode() if title else ""
        return found

    def popups(self) -> list[int]:
        """Open popup menus (the tray's menu and its submenus)."""
        kind = self.x.intern_atom("_NET_WM_WINDOW_TYPE")
        menus = {self.x.intern_atom(f"_NET_WM_WINDOW_TYPE_{k}") for k in ("POPUP_MENU", "DROPDOWN_MENU", "MENU")}
        found = []
        for w in self._top_level():
            try:
                types = w.get_full_property(kind, X.AnyPropertyType)
            except XError:  # gone meanwhile
                continue
            if types and menus & set(types.value):
                found.append(w.id)
        return found

    def _top_level(self) -> list[Window]:
        """The mapped windows on the root window, topmost last."""
        shown = []
        for w in self.x.screen().root.query_tree().children:
            try:
                if w.get_attributes().map_state == X.IsViewable:
                    shown.append(w)
            except XError:
                continue
        return shown

    def close(self, window_id: int) -> None:
        """The title bar's ×: a window manager sends WM_DELETE_WINDOW."""
        window: Window = self.x.create_resource_object("window", window_id)
        protocols, delete = self.x.intern_atom("WM_PROTOCOLS"), self.x.intern_atom("WM_DELETE_WINDOW")
        window.send_event(
            protocol.event.ClientMessage(
                window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])
            )
        )
        self.x.flush()

    def shot(self, name: str) -> Path:
        path = artifacts() / f"{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True, timeout=30)
        return path

    def stop(self) -> None:
        for driver in self._drivers:
            try:
                driver.quit()
            except WebDriverException:
                pass
        self.x.close()
        for proc in reversed(self._procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.log.exists():
            (artifacts() / f"{self.tmp.name}.log").write_text(self.logs())


def tray_binary() -> Path:
    tray = bin_dir() / "coder-bridge-tray"
    assert tray.is_file(), f"{tray} is missing: cargo build -p coder-bridge-tray"
    return tray


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def program(pid: int) -> str:
    """The program's file name (`/proc/<pid>/comm` cuts it to 15 bytes)."""
    return Path(_read(f"/proc/{pid}/cmdline").split("\0")[0]).name


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, by name, from the kernel's child lists."""
    found: dict[int, str] = {}
    queue = [pid]
    while queue:
        parent = queue.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            for child in map(int, _read(str(task / "children")).split()):
                found[child] = program(child)
                queue.append(child)
    return found


def settle(seconds: float = 0.5) -> None:
    """Lets the app react to a click before the screen is read."""
    time.sleep(seconds)

"""Fixtures for the interop tests: real binaries, real sockets, temp homes.

The binaries come from `CODER_BRIDGE_TEST_BIN_DIR` (scripts/test sets it to
target/debug) or, by default, `<repo>/target/debug`. A missing binary skips
the tests that need it, unless `CODER_BRIDGE_TEST_REQUIRE_ALL=1` (set by
scripts/test), where it fails them: the full run must not pass by skipping.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# How long a process may take to print what it is listening on. Generous: on
# a loaded 2-core machine a debug binary can take a while to come up.
STARTUP_TIMEOUT = 30.0


def bin_dir() -> Path:
    return Path(os.environ.get("CODER_BRIDGE_TEST_BIN_DIR", REPO / "target" / "debug"))


def artifacts_dir() -> Path:
    path = Path(os.environ.get("CODER_BRIDGE_TEST_ARTIFACTS", REPO / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def require_all() -> bool:
    return os.environ.get("CODER_BRIDGE_TEST_REQUIRE_ALL") == "1"


def binary(name: str) -> Path:
    """Path of a built binary, or skip (fail under REQUIRE_ALL) when absent."""
    path = bin_dir() / name
    if not path.is_file():
        message = f"{path} is not built (cargo build --workspace)"
        if require_all():
            pytest.fail(message)
        pytest.skip(message)
    return path


def isolated_env(home: Path) -> dict[str, str]:
    """An environment whose HOME and XDG folders all live under `home`, so
    nothing a test starts reads or writes the real user's files."""
    env = {
        key: value
        for key, value in os.environ.items()
        # Drop anything of ours that the caller's shell may have set.
        if not key.startswith(("CODER_BRIDGE_", "XDG_"))
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
    # No keychain in these tests: secrets go to the 0600 file store.
    env["CODER_BRIDGE_SECRET_STORE"] = "file"
    env["CODER_BRIDGE_LOG"] = "info"
    # Plain logs: they end up in files and failure reports.
    env["NO_COLOR"] = "1"
    env.pop("BROWSER", None)
    return env


@dataclass
class Proc:
    """A child process whose stdout lines are read on a thread, so a test can
    wait for a line with a deadline and stderr is kept for failure reports."""

    name: str
    popen: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stdout_seen: list[str] = field(default_factory=list)
    stderr_path: Path | None = None

    def start_reader(self) -> None:
        def pump() -> None:
            assert self.popen.stdout is not None
            for line in self.popen.stdout:
                self.lines.put(line.rstrip("\n"))
            self.lines.put(None)

        threading.Thread(target=pump, name=f"{self.name}-stdout", daemon=True).start()

    def read_values(self, keys: set[str], timeout: float = STARTUP_TIMEOUT) -> dict[str, str]:
        """Collect `KEY=value` lines from stdout until every key is seen."""
        found: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while not keys <= found.keys():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.fail(f"timed out waiting for {sorted(keys - found.keys())}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.fail(f"exited (status {self.popen.wait()}) before printing {sorted(keys)}")
            self.stdout_seen.append(line)
            key, sep, value = line.partition("=")
            if sep and key in keys:
                found[key] = value
        return found

    def stderr(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")

    def fail(self, why: str) -> None:
        pytest.fail(
            f"{self.name} {why}\n--- stdout ---\n"
            + "\n".join(self.stdout_seen)
            + f"\n--- stderr ---\n{self.stderr()[-4000:]}"
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"{name}.stderr.log"
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_path.open("w"),
        env=env,
        text=True,
        cwd=log_dir,
    )
    proc = Proc(name=name, popen=popen, stderr_path=stderr_path)
    proc.start_reader()
    return proc


@dataclass
class CoderSim:
    """A running `coder-sim`: what it printed on start-up."""

    url: str
    mcp_url: str
    session_token: str
    client_id: str
    client_secret: str
    proc: Proc


SIM_KEYS = {
    "CODER_SIM_URL",
    "CODER_SIM_MCP_URL",
    "CODER_SIM_SESSION_TOKEN",
    "CODER_SIM_CLIENT_ID",
    "CODER_SIM_CLIENT_SECRET",
}


@pytest.fixture
def start_coder_sim(tmp_path: Path) -> Iterator[Callable[..., CoderSim]]:
    """Factory: start `coder-sim --port 0 <args>` and return its facts.
    Every simulator started through it is stopped after the test."""
    started: list[Proc] = []

    def start(*args: str) -> CoderSim:
        exe = binary("coder-sim")
        home = tmp_path / f"sim-{len(started)}"
        proc = spawn(
            f"coder-sim-{len(started)}",
            [str(exe), "--port", "0", *args],
            isolated_env(home),
            home,
        )
        started.append(proc)
        values = proc.read_values(SIM_KEYS)
        return CoderSim(
            url=values["CODER_SIM_URL"],
            mcp_url=values["CODER_SIM_MCP_URL"],
            session_token=values["CODER_SIM_SESSION_TOKEN"],
            client_id=values["CODER_SIM_CLIENT_ID"],
            client_secret=values["CODER_SIM_CLIENT_SECRET"],
            proc=proc,
        )

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A scratch HOME for the product's processes."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def node() -> str:
    """The Node.js from node_modules (npm package `node`): the MCP Inspector
    needs a newer Node than some distributions ship."""
    local = REPO / "node_modules" / "node" / "bin" / "node"
    if local.is_file():
        return str(local)
    found = shutil.which("node")
    if found is None:
        if require_all():
            pytest.fail("no Node.js: run `npm ci`")
        pytest.skip("no Node.js: run `npm ci`")
    return found


@dataclass
class Daemon:
    """A running daemon (`coder-bridge demo`) and the home it lives in."""

    mcp_url: str
    ui_url: str
    sim_url: str
    home: Path
    env: dict[str, str]
    proc: Proc

    @property
    def port(self) -> int:
        return int(self.mcp_url.split(":")[2].split("/")[0])

    def client_token(self, agent: str) -> str:
        """The local bearer token the daemon issued for `agent`."""
        path = Path(self.env["XDG_CONFIG_HOME"]) / "coder-bridge" / "client-tokens.json"
        return json.loads(path.read_text())["clients"][agent]["token"]


# How long a state-changing call waits for consent in these tests: short, so
# the "nobody answered" path is tested without a two-minute wait.
CONSENT_TIMEOUT_SECONDS = 3


@pytest.fixture
def demo(home: Path) -> Iterator[Daemon]:
    """`coder-bridge demo --port 0`: the simulator and the daemon, signed in,
    in a scratch HOME (client tokens issued for every agent)."""
    exe = binary("coder-bridge")
    env = isolated_env(home)
    env["CODER_BRIDGE_CONSENT_TIMEOUT"] = str(CONSENT_TIMEOUT_SECONDS)
    proc = spawn("coder-bridge-demo", [str(exe), "demo", "--port", "0"], env, home)
    try:
        values = proc.read_values({"CODER_BRIDGE_URL", "CODER_SIM_URL", "CODER_BRIDGE_UI"})
        yield Daemon(
            mcp_url=values["CODER_BRIDGE_URL"],
            ui_url=values["CODER_BRIDGE_UI"],
            sim_url=values["CODER_SIM_URL"],
            home=home,
            env=env,
            proc=proc,
        )
    finally:
        proc.stop()

"""Fixtures for the real-agent tests: the interop suite's temp homes, binaries
and daemon (tests/python/conftest.py), plus the agents' own CLIs from
node_modules/.bin, pinned in package-lock.json.

A missing agent CLI skips its test, unless `CODER_BRIDGE_TEST_REQUIRE_ALL=1`
(scripts/test), where it fails: the full run must not pass by skipping.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

_SHARED = Path(__file__).resolve().parents[1] / "python" / "conftest.py"
_spec = importlib.util.spec_from_file_location("interop_conftest", _SHARED)
assert _spec is not None and _spec.loader is not None
interop = importlib.util.module_from_spec(_spec)
sys.modules["interop_conftest"] = interop  # dataclasses look their module up
_spec.loader.exec_module(interop)

# Re-exported so pytest registers them here too.
home = interop.home
demo = interop.demo
REPO = interop.REPO
STARTUP_TIMEOUT = interop.STARTUP_TIMEOUT

NODE_BIN = REPO / "node_modules" / ".bin"
# How long an agent CLI may take to list (and connect to) its servers.
AGENT_TIMEOUT = 120.0
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def agent_cli(name: str) -> Path:
    """Path of an agent's CLI from node_modules, or skip (fail under REQUIRE_ALL)."""
    path = NODE_BIN / name
    if not path.exists():
        message = f"{path} is missing: run `npm ci`"
        if interop.require_all():
            pytest.fail(message)
        pytest.skip(message)
    return path


def node_path() -> str:
    """PATH with node_modules' Node.js first: the agent CLIs need a newer Node
    than some distributions ship."""
    local = REPO / "node_modules" / "node" / "bin"
    return os.pathsep.join([str(local), str(NODE_BIN), os.environ.get("PATH", "")])


@dataclass
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together, without colour codes."""
        return ANSI.sub("", self.stdout + "\n" + self.stderr)

    def report(self) -> str:
        return f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


@dataclass
class Workspace:
    """The daemon (`coder-bridge demo`) in a temp HOME, and ways to run our
    CLI and the agents' CLIs in that same HOME."""

    daemon: interop.Daemon

    @property
    def home(self) -> Path:
        return self.daemon.home

    @property
    def url(self) -> str:
        return self.daemon.mcp_url

    def env(self) -> dict[str, str]:
        env = dict(self.daemon.env)
        env["PATH"] = node_path()
        # No telemetry, update checks or colour from the agents.
        env.update(
            {
                "NO_COLOR": "1",
                "CI": "1",
                "DISABLE_AUTOUPDATER": "1",
                "GEMINI_CLI_NO_RELAUNCH": "true",
                "OPENCODE_DISABLE_AUTOUPDATE": "1",
            }
        )
        return env

    def run(self, argv: list[str], timeout: float = AGENT_TIMEOUT) -> Run:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
        return Run(argv, done.returncode, done.stdout, done.stderr)

    def bridge(self, *args: str) -> Run:
        return self.run([str(interop.binary("coder-bridge")), *args], timeout=STARTUP_TIMEOUT)

    def agent(self, cli: str, *args: str) -> Run:
        return self.run([str(agent_cli(cli)), *args])

    def configure(self, agent: str) -> Run:
        done = self.bridge("configure", agent)
        assert done.returncode == 0, done.report()
        return done

    def token(self, agent: str) -> str:
        return self.daemon.client_token(agent)

    def read_json(self, path: Path) -> dict:
        return json.loads(path.read_text())


@pytest.fixture
def workspace(demo: interop.Daemon) -> Workspace:
    """A daemon whose port is the persistent setting, so `configure` points
    every agent at it without being told."""
    ws = Workspace(daemon=demo)
    done = ws.bridge("config", "set", "port", str(demo.port))
    assert done.returncode == 0, done.report()
    return ws

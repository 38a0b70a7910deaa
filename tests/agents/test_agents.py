"""Each agent, configured by `coder-bridge configure <agent>`, checked by the
agent's own CLI in a temp HOME against a running daemon.

Agents that connect on `mcp list` (Claude Code, Gemini CLI, opencode)
must say the server is connected, which needs the right URL and
client token; the ones that only list their config (Codex, Copilot CLI) must
list our server with our URL and token. Where an agent also runs stdio
servers, the shim entry (Claude Desktop's shape) is checked through it too.
No API key is needed for any of this.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import Run, Workspace

ENTRY = "coder"


def line_for(run: Run, name: str) -> str:
    """The line of an `mcp list` output about server `name`."""
    for line in run.output.splitlines():
        # The first name-like word, past status marks and box drawing.
        words = re.findall(r"[\w.-]+", line)
        if words and words[0] == name:
            return line
    pytest.fail(f"{name} is not listed\n{run.report()}")


def assert_connected(run: Run, name: str, url: str | None = None) -> None:
    line = line_for(run, name)
    assert "connected" in line.lower() and "disconnected" not in line.lower(), run.report()
    if url is not None:
        assert url in line, run.report()


def stdio_entry(ws: Workspace, agent: str) -> dict:
    """The shim entry `configure claude-desktop` writes, for `agent`."""
    ws.configure("claude-desktop")
    config = Path(ws.env()["XDG_CONFIG_HOME"]) / "Claude" / "claude_desktop_config.json"
    entry = ws.read_json(config)["mcpServers"][ENTRY]
    assert Path(entry["command"]).name == "coder-bridge"
    return {**entry, "args": ["stdio", "--agent", agent]}


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    change(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


# --- Claude Code --------------------------------------------------------


def test_claude_code_http_entry_is_connected(workspace: Workspace) -> None:
    workspace.configure("claude-code")
    listed = workspace.agent("claude", "mcp", "list")
    assert_connected(listed, ENTRY, workspace.url)


def test_claude_code_runs_claude_desktops_stdio_entry(workspace: Workspace) -> None:
    entry = stdio_entry(workspace, "claude-desktop")
    added = workspace.agent("claude", "mcp", "add-json", "--scope", "user", "coder-stdio", json.dumps(entry))
    assert added.returncode == 0, added.report()
    assert_connected(workspace.agent("claude", "mcp", "list"), "coder-stdio")


# --- Gemini CLI and Qwen Code ---------------------------------------------

# (agent name, its CLI, its settings folder)
# Qwen Code shares Gemini CLI's settings shape but is checked by golden files
# only: its npm package names optional dependencies the registry does not
# have, so `npm ci` cannot install it from a lockfile.
GEMINI_FAMILY = [("gemini-cli", "gemini", ".gemini")]


def trust_folders(settings: Path) -> None:
    """Servers are "Disabled" in untrusted folders; a test HOME trusts all.
    Written before `configure`, so it also shows our edit keeps it."""

    def change(data: dict) -> None:
        data["security"] = {"folderTrust": {"enabled": False}}

    edit_json(settings, change)


@pytest.mark.parametrize(("agent", "cli", "folder"), GEMINI_FAMILY)
def test_gemini_family_http_entry_is_connected(workspace: Workspace, agent: str, cli: str, folder: str) -> None:
    settings = workspace.home / folder / "settings.json"
    trust_folders(settings)
    workspace.configure(agent)
    data = workspace.read_json(settings)
    assert data["security"] == {"folderTrust": {"enabled": False}}
    assert data["mcpServers"][ENTRY]["httpUrl"] == workspace.url
    assert_connected(workspace.agent(cli, "mcp", "list"), ENTRY, workspace.url)

    gone = workspace.bridge("unconfigure", agent)
    assert gone.returncode == 0, gone.report()
    after = workspace.read_json(settings)
    assert ENTRY not in after.get("mcpServers", {})
    assert after["security"] == {"folderTrust": {"enabled": False}}


@pytest.mark.parametrize(("agent", "cli", "folder"), GEMINI_FAMILY)
def test_gemini_family_runs_the_stdio_shim(workspace: Workspace, agent: str, cli: str, folder: str) -> None:
    settings = workspace.home / folder / "settings.json"
    trust_folders(settings)
    entry = stdio_entry(workspace, agent)
    edit_json(settings, lambda data: data.setdefault("mcpServers", {}).update({"coder-stdio": entry}))
    assert_connected(workspace.agent(cli, "mcp", "list"), "coder-stdio")


# --- opencode -------------------------------------------------------------


def test_opencode_remote_entry_is_connected(workspace: Workspace) -> None:
    workspace.configure("opencode")
    config = Path(workspace.env()["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json"
    assert workspace.read_json(config)["mcp"][ENTRY]["type"] == "remote"
    assert_connected(workspace.agent("opencode", "mcp", "list"), ENTRY)


def test_opencode_runs_the_stdio_shim(workspace: Workspace) -> None:
    entry = stdio_entry(workspace, "opencode")
    config = Path(workspace.env()["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json"
    local = {"type": "local", "command": [entry["command"], *entry["args"]], "enabled": True}
    edit_json(config, lambda data: data.setdefault("mcp", {}).update({"coder-stdio": local}))
    assert_connected(workspace.agent("opencode", "mcp", "list"), "coder-stdio")


# --- Codex and Copilot CLI (they list their config; no connection check) ----


def test_codex_lists_our_server_with_its_token(workspace: Workspace) -> None:
    config = workspace.home / ".codex" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    mine = '# mine\nmodel = "o3"\n\n[mcp_servers.linear]\ncommand = "npx"\nargs = ["-y", "linear-mcp"]\n'
    config.write_text(mine)
    workspace.configure("codex")

    listed = workspace.agent("codex", "mcp", "list")
    assert listed.returncode == 0, listed.report()
    assert workspace.url in line_for(listed, ENTRY), listed.report()
    line_for(listed, "linear")
    got = workspace.agent("codex", "mcp", "get", ENTRY, "--json")
    assert got.returncode == 0, got.report()
    transport = json.loads(got.stdout[got.stdout.index("{") :])["transport"]
    assert transport["type"] == "streamable_http"
    assert transport["url"] == workspace.url
    assert transport["http_headers"] == {"Authorization": f"Bearer {workspace.token('codex')}"}

    gone = workspace.bridge("unconfigure", "codex")
    assert gone.returncode == 0, gone.report()
    assert config.read_text() == mine


def test_copilot_cli_lists_our_http_server(workspace: Workspace) -> None:
    workspace.configure("copilot-cli")
    listed = workspace.agent("copilot", "mcp", "list")
    assert listed.returncode == 0, listed.report()
    assert "http" in line_for(listed, ENTRY), listed.report()
    got = workspace.agent("copilot", "mcp", "get", ENTRY)
    assert got.returncode == 0, got.report()
    assert workspace.url in got.output, got.report()
    assert "Authorization" in got.output, got.report()
    entry = workspace.read_json(workspace.home / ".copilot" / "mcp-config.json")["mcpServers"][ENTRY]
    assert entry["headers"]["Authorization"] == f"Bearer {workspace.token('copilot-cli')}"


# --- The port is a setting: a moved daemon shows as drift, configure repairs --


def test_a_stale_port_is_drift_that_configure_repairs(workspace: Workspace) -> None:
    stale = workspace.bridge("configure", "claude-code", "--port", "1")
    assert stale.returncode == 0, stale.report()
    # Nothing answers on port 1: Claude Code cannot connect.
    assert "✔ connected" not in line_for(workspace.agent("claude", "mcp", "list"), ENTRY).lower()

    agents = workspace.bridge("agents", "--json")
    row = next(r for r in json.loads(agents.stdout) if r["agent"] == "claude-code")
    assert not row["up_to_date"], row
    assert {"kind": "url_changed", "found": "http://127.0.0.1:1/mcp"} in row["drift"]

    workspace.configure("claude-code")
    row = next(r for r in json.loads(workspace.bridge("agents", "--json").stdout) if r["agent"] == "claude-code")
    assert row["up_to_date"], row
    assert_connected(workspace.agent("claude", "mcp", "list"), ENTRY, workspace.url)

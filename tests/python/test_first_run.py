"""A user's first run, with real commands and third-party clients.

Sign in to a (simulated, older-era) Coder with a session token, start the
daemon, let `coder-bridge configure` write Cursor's and Claude Desktop's
config files, then connect the official MCP Python SDK exactly as those
agents would — with the URL and headers, or the command and arguments, read
back from the files that were written.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import STARTUP_TIMEOUT, binary, isolated_env, spawn
from helpers import over_http, over_stdio, run, text_of
from mcp import Client

ENTRY = "coder"  # the server name our entries use in every agent's config


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary("coder-bridge")), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=STARTUP_TIMEOUT,
    )


async def whoami(client: Client) -> str:
    tools = await client.list_tools()
    assert "coder_list_workspaces" in {tool.name for tool in tools.tools}
    user = await client.call_tool("coder_get_authenticated_user", {})
    assert not user.is_error, text_of(user)
    return json.loads(text_of(user))["username"]


def test_login_serve_configure_then_agents_connect_with_what_was_written(
    start_coder_sim, home: Path
) -> None:
    sim = start_coder_sim("--era", "sessions")
    env = isolated_env(home)

    login = cli(env, "login", sim.url, "--token", stdin=sim.session_token + "\n")
    assert login.returncode == 0, login.stderr
    status = cli(env, "status", "--json")
    assert status.returncode == 0, f"status after login:\n{status.stdout}\n{status.stderr}"

    daemon = spawn("coder-bridge-serve", [str(binary("coder-bridge")), "serve", "--port", "0"], env, home)
    try:
        url = daemon.read_values({"CODER_BRIDGE_URL"})["CODER_BRIDGE_URL"]
        port = url.split(":")[2].split("/")[0]

        for agent in ("cursor", "claude-desktop"):
            done = cli(env, "configure", agent, "--port", port)
            assert done.returncode == 0, f"configure {agent}:\n{done.stdout}\n{done.stderr}"

        # Cursor: an HTTP entry with our per-agent bearer token.
        cursor = json.loads((home / ".cursor" / "mcp.json").read_text())["mcpServers"][ENTRY]
        assert cursor["url"] == url
        assert run(over_http(cursor["url"], cursor["headers"], whoami, mode="legacy")) == "demo"

        # Claude Desktop: a stdio entry that launches the shim.
        config = Path(env["XDG_CONFIG_HOME"]) / "Claude" / "claude_desktop_config.json"
        desktop = json.loads(config.read_text())["mcpServers"][ENTRY]
        assert Path(desktop["command"]).name == "coder-bridge"
        got = run(over_stdio(desktop["command"], desktop["args"], env, whoami, mode="legacy"))
        assert got == "demo"
    finally:
        daemon.stop()

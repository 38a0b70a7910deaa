"""Third-party MCP clients through the daemon (`coder-bridge demo`).

The agents Coder Bridge serves are not ours: Claude Desktop, Cursor, VS Code…
These tests use independent client implementations — the official Python
SDK over streamable HTTP and over the stdio shim, and the MCP Inspector CLI
(TypeScript SDK) — against the real daemon relaying to the simulated Coder.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import CONSENT_TIMEOUT_SECONDS, REPO, Daemon, binary
from helpers import over_http, over_stdio, run, text_of
from mcp import Client

INSPECTOR = (
    REPO / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher"
    / "build" / "index.js"
)


async def list_and_whoami(client: Client) -> tuple[set[str], object]:
    tools = await client.list_tools()
    user = await client.call_tool("coder_get_authenticated_user", {})
    return {tool.name for tool in tools.tools}, user


def assert_relayed_coder(names: set[str], user: object) -> None:
    # The daemon relays Coder's own tool list, so its names come through.
    assert {"coder_get_authenticated_user", "coder_list_workspaces", "coder_workspace_bash"} <= names
    assert not user.is_error, text_of(user)
    assert json.loads(text_of(user))["username"] == "demo"


# "legacy": the initialize handshake (protocol 2025-11-25 and older), what most
# agents speak today. "auto": the SDK's default, which negotiates 2026-07-28.
@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_sdk_over_http_lists_and_calls_tools_through_the_daemon(demo: Daemon, mode: str) -> None:
    headers = {"Authorization": f"Bearer {demo.client_token('cursor')}"}
    names, user = run(over_http(demo.mcp_url, headers, list_and_whoami, mode=mode))
    assert_relayed_coder(names, user)


def test_unanswered_consent_denies_a_state_changing_call_with_a_tool_error(demo: Daemon) -> None:
    headers = {"Authorization": f"Bearer {demo.client_token('vscode')}"}

    async def bash(client: Client) -> object:
        return await client.call_tool(
            "coder_workspace_bash", {"workspace": "dev", "command": "echo hello"}
        )

    started = time.monotonic()
    # "auto" (2026-07-28): the relayed result must carry resultType "complete"
    # even though the upstream speaks an older protocol without it.
    result = run(over_http(demo.mcp_url, headers, bash, mode="auto"))
    waited = time.monotonic() - started
    # A tool error the agent can show, not a protocol error or a hang.
    assert result.is_error
    assert "approved" in text_of(result) or "denied" in text_of(result), text_of(result)
    assert CONSENT_TIMEOUT_SECONDS - 0.5 <= waited < CONSENT_TIMEOUT_SECONDS + 15


@pytest.mark.parametrize("token", [None, "cbt_not-a-token-the-daemon-issued"])
def test_requests_without_a_valid_client_token_are_refused_with_guidance(
    demo: Daemon, token: str | None
) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.post(
        demo.mcp_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 401
    # The message tells the user how to fix it, in the agent's own log.
    assert "coder-bridge configure" in response.json()["error"]["message"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_sdk_over_the_stdio_shim(demo: Daemon, mode: str) -> None:
    exe = binary("coder-bridge")
    args = ["stdio", "--agent", "claude-desktop", "--port", str(demo.port), "--no-start"]
    names, user = run(over_stdio(str(exe), args, demo.env, list_and_whoami, mode=mode))
    assert_relayed_coder(names, user)


def inspector(node: str, demo: Daemon, *args: str) -> dict:
    if not INSPECTOR.is_file():
        pytest.fail(f"{INSPECTOR} is missing: run `npm ci`")
    done = subprocess.run(
        [
            node, str(INSPECTOR), "--cli", demo.mcp_url,
            "--transport", "http",
            "--header", f"Authorization: Bearer {demo.client_token('zed')}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=demo.env,
        cwd=Path(demo.env["HOME"]),
    )
    assert done.returncode == 0, f"inspector failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def test_mcp_inspector_cli_lists_and_calls_tools_through_the_daemon(demo: Daemon, node: str) -> None:
    listed = inspector(node, demo, "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}
    assert "coder_list_workspaces" in names
    bash = next(tool for tool in listed["tools"] if tool["name"] == "coder_workspace_bash")
    assert bash["annotations"]["readOnlyHint"] is False

    called = inspector(
        node, demo, "--method", "tools/call", "--tool-name", "coder_list_workspaces"
    )
    assert called["isError"] is False
    workspaces = json.loads(called["content"][0]["text"])
    assert all(w["owner_name"] == "demo" for w in workspaces) and workspaces

"""The official Python MCP SDK client against `coder-sim` directly.

This pins the simulator to what real MCP clients accept: if the SDK can list
and call Coder's tools on both Coder eras (stateless JSON replies and
session-based SSE), then so can a real deployment's clients, and the bridge's
relay is tested against a faithful upstream.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from helpers import over_http, run, text_of
from mcp import Client


@pytest.mark.parametrize("era", ["stateless", "sessions"])
def test_sdk_lists_and_calls_tools_with_a_session_token(start_coder_sim, era: str) -> None:
    sim = start_coder_sim("--era", era)

    async def steps(client: Client) -> dict[str, Any]:
        tools = await client.list_tools()
        user = await client.call_tool("coder_get_authenticated_user", {})
        workspaces = await client.call_tool("coder_list_workspaces", {})
        return {"tools": tools.tools, "user": user, "workspaces": workspaces}

    got = run(over_http(sim.mcp_url, {"Coder-Session-Token": sim.session_token}, steps))

    tools = {tool.name: tool for tool in got["tools"]}
    for name in (
        "coder_get_authenticated_user",
        "coder_list_workspaces",
        "coder_create_workspace_build",
        "coder_workspace_bash",
    ):
        assert name in tools, f"{name} missing from {sorted(tools)}"
    # Coder's schemas are closed: clients must not invent arguments.
    assert tools["coder_list_workspaces"].input_schema.get("additionalProperties") is False
    annotations = tools["coder_get_authenticated_user"].annotations
    assert annotations is not None and annotations.read_only_hint is True
    assert tools["coder_workspace_bash"].annotations.read_only_hint is False

    assert not got["user"].is_error
    assert "demo" in text_of(got["user"])
    assert not got["workspaces"].is_error
    assert text_of(got["workspaces"]).strip(), "the seeded demo deployment has workspaces"


def test_sdk_with_bearer_token_changes_state_that_a_later_session_sees(start_coder_sim) -> None:
    """A state-changing call really changes the simulated deployment."""
    sim = start_coder_sim("--era", "stateless")
    headers = {"Authorization": f"Bearer {sim.session_token}"}

    async def list_workspaces(client: Client) -> list[dict[str, Any]]:
        listed = await client.call_tool("coder_list_workspaces", {})
        assert not listed.is_error, text_of(listed)
        return json.loads(text_of(listed))

    workspaces = run(over_http(sim.mcp_url, headers, list_workspaces))
    running = [w for w in workspaces if w["latest_build"]["transition"] == "start"]
    assert running, f"the seeded deployment has a running workspace: {workspaces}"
    workspace_id = running[0]["id"]

    async def stop(client: Client) -> Any:
        return await client.call_tool(
            "coder_create_workspace_build", {"workspace_id": workspace_id, "transition": "stop"}
        )

    stopped = run(over_http(sim.mcp_url, headers, stop))
    assert not stopped.is_error, text_of(stopped)

    async def get(client: Client) -> Any:
        return await client.call_tool("coder_get_workspace", {"workspace_id": workspace_id})

    after = run(over_http(sim.mcp_url, headers, get))
    assert not after.is_error, text_of(after)
    build = json.loads(text_of(after))["latest_build"]
    assert build["transition"] == "stop"
    assert build["build_number"] > running[0]["latest_build"]["build_number"]


def test_bad_arguments_are_a_tool_error_with_the_expected_schema(start_coder_sim) -> None:
    sim = start_coder_sim()

    async def steps(client: Client) -> Any:
        return await client.call_tool("coder_get_workspace", {"no_such_argument": 1})

    result = run(over_http(sim.mcp_url, {"Coder-Session-Token": sim.session_token}, steps))
    assert result.is_error
    body = json.loads(text_of(result))
    assert "error" in body and "expectedSchema" in body


def test_without_a_token_coder_answers_401_with_resource_metadata(start_coder_sim) -> None:
    sim = start_coder_sim()
    response = httpx.post(
        sim.mcp_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
        timeout=10,
    )
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{sim.url.rstrip("/")}/.well-known/oauth-protected-resource"' in challenge

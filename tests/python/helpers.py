"""Small helpers shared by the interop tests: one bounded MCP client session."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

T = TypeVar("T")

# Whole budget for one client session: connect, every step, close.
SESSION_TIMEOUT = 30.0


def run(coro: Awaitable[T], timeout: float = SESSION_TIMEOUT) -> T:
    """Run one async client session to completion, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def text_of(result: Any) -> str:
    """The text content of a tool result."""
    return "".join(block.text for block in result.content if block.type == "text")


async def over_http(
    url: str,
    headers: dict[str, str],
    steps: Callable[[Client], Awaitable[T]],
    mode: str = "auto",
) -> T:
    """Open an MCP session over streamable HTTP with `headers` on every
    request, run `steps` with the client, and close the session. `mode` is the
    SDK's: "auto" negotiates the newest protocol, "legacy" forces the
    initialize handshake."""
    async with create_mcp_http_client(headers=headers) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            return await steps(client)


async def over_stdio(
    command: str,
    args: list[str],
    env: dict[str, str],
    steps: Callable[[Client], Awaitable[T]],
    mode: str = "auto",
) -> T:
    """Launch `command args` as an MCP stdio server (as Claude Desktop would)
    and run `steps` with a client connected to it."""
    params = StdioServerParameters(command=command, args=args, env=env)
    async with Client(params, mode=mode) as client:
        return await steps(client)

"""One agent built on the official Python MCP SDK (`mcp`): connects to <url>
over streamable HTTP with the SDK's own HTTP client (which keeps connections
alive) and prints `{"ready": ...}`. Then each line N on stdin makes N calls of
<tool> in a row and prints their latencies in microseconds as one JSON line;
end of input closes the session.

    python py-client.py <url> <token> <era: legacy|modern> <tool>

"legacy" forces the initialize handshake and an Mcp-Session-Id (2025-11-25
and older); "modern" is the SDK's default, which negotiates 2026-07-28.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from mcp import Client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


async def main(url: str, token: str, era: str, tool: str) -> None:
    mode = "legacy" if era == "legacy" else "auto"
    loop = asyncio.get_running_loop()
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:

            async def call() -> int:
                started = time.perf_counter_ns()
                result = await client.call_tool(tool, {})
                took = (time.perf_counter_ns() - started) // 1000
                if result.is_error:
                    raise RuntimeError(f"{tool} returned a tool error: {result.content}")
                return took

            print(json.dumps({"ready": True, "protocol": client.protocol_version}), flush=True)
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                micros = [await call() for _ in range(int(line))]
                print(json.dumps({"micros": micros}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[3] not in ("legacy", "modern"):
        sys.exit("usage: py-client.py <url> <token> <legacy|modern> <tool>")
    asyncio.run(main(*sys.argv[1:]))

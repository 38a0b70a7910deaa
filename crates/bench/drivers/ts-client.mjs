// One agent built on the official TypeScript MCP client
// (@modelcontextprotocol/client, as in Claude Code, Cursor and VS Code):
// connects to <url> over streamable HTTP with its default transport (Node's
// fetch, which keeps connections alive) and prints `{"ready":…}`. Then each
// line N on stdin makes N calls of <tool> in a row and prints their latencies
// in microseconds as one JSON line; end of input closes the session.
//
//   node ts-client.mjs <url> <token> <era: legacy|modern> <tool>
//
// "legacy" is the SDK's default: the initialize handshake and an
// Mcp-Session-Id (2025-11-25 and older). "modern" pins 2026-07-28: no
// handshake and no session.
import { createInterface } from 'node:readline';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const [url, token, era, tool] = process.argv.slice(2);
if (!tool || !['legacy', 'modern'].includes(era)) {
    console.error('usage: ts-client.mjs <url> <token> <legacy|modern> <tool>');
    process.exit(2);
}

const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client(
    { name: 'coder-bridge-bench', version: '1.0.0' },
    { versionNegotiation: { mode: era === 'legacy' ? 'legacy' : { pin: '2026-07-28' } } },
);
await client.connect(transport);

async function call() {
    const started = process.hrtime.bigint();
    const result = await client.callTool({ name: tool, arguments: {} });
    const took = Number((process.hrtime.bigint() - started) / 1000n);
    if (result.isError) {
        throw new Error(`${tool} returned a tool error: ${JSON.stringify(result.content)}`);
    }
    return took;
}

process.stdout.write(
    `${JSON.stringify({ ready: true, protocol: client.getNegotiatedProtocolVersion() ?? null, session: transport.sessionId ?? null })}\n`,
);
for await (const line of createInterface({ input: process.stdin })) {
    const micros = [];
    for (let i = 0; i < Number(line); i++) micros.push(await call());
    process.stdout.write(`${JSON.stringify({ micros })}\n`);
}
await client.close();

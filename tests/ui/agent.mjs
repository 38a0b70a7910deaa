// A real MCP client playing an agent: it reads the entry the bridge wrote
// into the agent's config file and connects with exactly that URL and those
// headers, as the agent would.

import fs from "node:fs";

import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

/** The bridge's entry in an agent config file (`mcpServers`-style). */
export function bridgeEntry(configPath, origin) {
  const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
  const servers = config.mcpServers ?? config.servers ?? {};
  for (const [name, entry] of Object.entries(servers)) {
    const url = entry.url ?? entry.serverUrl;
    if (typeof url === "string" && url.startsWith(origin)) return { name, ...entry, url };
  }
  return null;
}

/** Connect as the agent whose config file is `configPath`. */
export async function connectAgent(configPath, origin, clientName) {
  const entry = bridgeEntry(configPath, origin);
  if (!entry) throw new Error(`${configPath} has no entry pointing at ${origin}`);
  const transport = new StreamableHTTPClientTransport(new URL(entry.url), {
    requestInit: { headers: entry.headers ?? {} },
  });
  const client = new Client({ name: clientName, version: "1.0.0" });
  await client.connect(transport);
  return client;
}

/** Call a tool, allowing for a person to answer a consent prompt first. */
export function callTool(client, name, args, timeoutMs = 90_000) {
  return client.callTool({ name, arguments: args }, { timeout: timeoutMs });
}

/** The text parts of a tool result, joined. */
export function resultText(result) {
  return (result.content ?? [])
    .filter((part) => part.type === "text")
    .map((part) => part.text)
    .join("\n");
}

// Test harness for the web UI: real binaries (the simulated Coder and the
// daemon) in a throwaway HOME, and Debian's Chromium driven by playwright-core.
//
// Nothing here downloads a browser: CHROMIUM (default /usr/bin/chromium)
// must exist. Binaries come from CODER_BRIDGE_TEST_BIN_DIR (default
// target/debug), as for the Python tests.

import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN_DIR = process.env.CODER_BRIDGE_TEST_BIN_DIR ?? path.join(ROOT, "target/debug");
export const ARTIFACTS = path.join(process.env.CODER_BRIDGE_TEST_ARTIFACTS ?? path.join(ROOT, "test-artifacts"), "ui");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const STARTUP_MS = 30_000;

/** Resolve with `promise`, or reject after `ms` with a message naming `what`. */
export async function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `check` (which returns a value or throws/returns falsy) until it succeeds. */
export async function until(what, check, ms = STARTUP_MS, every = 100) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

function binary(name) {
  const file = path.join(BIN_DIR, name);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`cargo build\` first`);
  return file;
}

/** A child process whose stderr is kept in a log file for the artifacts. */
function start(name, args, env, logName) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const log = fs.createWriteStream(path.join(ARTIFACTS, logName));
  const child = spawn(binary(name), args, { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stderr.pipe(log);
  child.on("error", (error) => log.write(`spawn failed: ${error.message}\n`));
  return child;
}

async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGINT");
  const exited = once(child, "exit");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Start coder-sim and the daemon in a fresh HOME.
 * Returns { home, env, sim: {url, clientId, clientSecret, ...}, daemon: {origin, port},
 *           token, request(method, path, body), ticketUrl(), stop() }.
 */
export async function startStack({ simArgs = [], logPrefix = "" } = {}) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "cb-ui-"));
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_DATA_HOME: path.join(home, ".local/share"),
    XDG_STATE_HOME: path.join(home, ".local/state"),
    XDG_CACHE_HOME: path.join(home, ".cache"),
    // No keychain in a test HOME: the 0600 file store is the honest choice.
    CODER_BRIDGE_SECRET_STORE: "file",
    CODER_BRIDGE_LOG: process.env.CODER_BRIDGE_LOG ?? "info",
    NO_COLOR: "1",
    // The browser opener must never fire during tests: the page opens Coder's page itself.
    BROWSER: "true",
  };
  delete env.XDG_RUNTIME_DIR;
  delete env.DBUS_SESSION_BUS_ADDRESS;

  const children = [];
  const stack = { home, env, children, logPrefix };
  try {
    const sim = start("coder-sim", ["--port", "0", ...simArgs], env, `${logPrefix}coder-sim.log`);
    children.push(sim);
    stack.sim = await within(STARTUP_MS, "coder-sim to print its URL", readSimFacts(sim));

    const port = await freePort();
    stack.daemon = { port, origin: `http://127.0.0.1:${port}` };
    stack.tokenFile = path.join(env.XDG_CONFIG_HOME, "coder-bridge", "control-token");
    await startDaemon(stack);
  } catch (error) {
    await Promise.all(children.map(stop));
    fs.rmSync(home, { recursive: true, force: true });
    throw error;
  }

  /** Call the control API as the CLI does (bearer token). */
  stack.request = async (method, urlPath, body) => {
    const init = { method, headers: { Authorization: `Bearer ${stack.token}` } };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body ?? {});
    }
    const response = await fetch(`${stack.daemon.origin}${urlPath}`, init);
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error(`${method} ${urlPath}: ${response.status} ${text}`);
    return data;
  };
  /** A fresh one-time ticket URL for the browser. */
  stack.ticketUrl = async () => (await stack.request("POST", "/api/tickets", {})).url;
  /** Stop the daemon and start it again on the same port and HOME. */
  stack.restartDaemon = async () => {
    await stop(stack.daemonProcess);
    await startDaemon(stack);
  };
  stack.stop = async () => {
    await Promise.all(children.map(stop));
    fs.rmSync(home, { recursive: true, force: true });
  };
  return stack;
}

let daemonStarts = 0;

async function startDaemon(stack) {
  const { port } = stack.daemon;
  daemonStarts += 1;
  const log = `${stack.logPrefix}${daemonStarts === 1 ? "daemon.log" : `daemon-${daemonStarts}.log`}`;
  const daemon = start("coder-bridge", ["serve", "--port", String(port)], { ...stack.env, CODER_BRIDGE_PORT: String(port) }, log);
  stack.children.push(daemon);
  stack.daemonProcess = daemon;
  await until("the daemon's control API", async () => {
    if (daemon.exitCode !== null) throw new Error(`the daemon exited with ${daemon.exitCode} (see ${log})`);
    stack.token = fs.readFileSync(stack.tokenFile, "utf8").trim();
    const response = await fetch(`${stack.daemon.origin}/api/status`, { headers: { Authorization: `Bearer ${stack.token}` } });
    return response.ok;
  });
}

async function readSimFacts(child) {
  const facts = {};
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const eq = line.indexOf("=");
    if (eq > 0) facts[line.slice(0, eq)] = line.slice(eq + 1);
    if (facts.CODER_SIM_URL && facts.CODER_SIM_CLIENT_ID && facts.CODER_SIM_CLIENT_SECRET) break;
  }
  if (!facts.CODER_SIM_URL) throw new Error(`coder-sim exited with ${child.exitCode} before printing its URL`);
  // Keep draining stdout so the child never blocks on a full pipe.
  child.stdout.resume();
  return {
    url: facts.CODER_SIM_URL,
    mcpUrl: facts.CODER_SIM_MCP_URL,
    clientId: facts.CODER_SIM_CLIENT_ID,
    clientSecret: facts.CODER_SIM_CLIENT_SECRET,
  };
}

/**
 * Debian's Chromium, never a downloaded browser. Playwright gives every
 * launch a fresh temporary profile (its own --user-data-dir, removed on
 * close), so no state leaks between runs.
 */
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

const AXE_SOURCE = fs.readFileSync(path.join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8");

/**
 * Run axe-core on the page; returns the serious and critical violations as
 * readable lines. The source is evaluated through the DevTools protocol, so
 * the page's strict CSP (no inline scripts) stays on.
 */
export async function axeViolations(page) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"], runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] }),
  );
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")})`);
}

/** Save a full-page screenshot as test-artifacts/ui/<name>.png. */
export async function screenshot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
}

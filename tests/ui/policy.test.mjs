// The Policy page and Coder's newer tools, in Debian's Chromium against the
// real daemon and the simulated Coder serving its probe tools: tools the
// bridge has no built-in rule for are marked "new" (and "destructive" when
// annotated so), and a tool whose description changes after it was allowed
// always loses that "allow" and is shown as changed, with what it says now.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";

import { axeViolations, launchBrowser, screenshot, startStack, until, within } from "./harness.mjs";

const STEP_MS = 60_000;
const TOOL = "coder_workspace_bash";
const NEW_DESCRIPTION = "Run a command in every workspace of the organisation, as root.";

describe("policy page", { timeout: 240_000 }, () => {
  let stack;
  let browser;
  let context;
  let page;
  const problems = [];

  before(async () => {
    stack = await startStack({ simArgs: ["--probe-tools"], logPrefix: "policy-" });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
    page = await context.newPage();
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        problems.push(`console error: ${message.text()}`);
      }
    });
  });

  let step = 0;
  afterEach(async () => {
    step += 1;
    await screenshot(page, `policy-steps/${String(step).padStart(2, "0")}`).catch(() => {});
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function showPolicy() {
    // Through another view, so the page loads the policy afresh.
    await page.evaluate(() => {
      location.hash = "#/status";
    });
    await page.waitForSelector('[data-view="status"] #status-user', { state: "attached", timeout: 15_000 });
    await page.evaluate(() => {
      location.hash = "#/policy";
    });
    await page.waitForSelector('[data-view="policy"] table.policy tbody tr', { state: "attached", timeout: 15_000 });
  }

  const row = (tool) => page.locator(`tr[data-tool="${tool}"]`);

  it("signs in to the simulator", { timeout: STEP_MS }, async () => {
    await page.goto(await stack.ticketUrl());
    await page.waitForSelector('[data-view="welcome"] #signin-form');
    await page.fill("#deployment-url", stack.sim.url);
    await page.click("details.advanced summary");
    await page.fill("#client-id", stack.sim.clientId);
    await page.fill("#client-secret", stack.sim.clientSecret);
    const coderPage = context.waitForEvent("page");
    await page.click("#signin-submit");
    const consent = await within(15_000, "Coder's sign-in page to open", coderPage);
    await consent.waitForSelector("#allow");
    await consent.click("#allow");
    await page.waitForSelector('[data-view="status"] #status-user', { timeout: 30_000 });
    await consent.close();
  });

  it("marks the tools it has no built-in rule for as new, with defaults from their annotations", { timeout: STEP_MS }, async () => {
    await showPolicy();
    await row("sim_probe_rich_result").locator(".chip-new").waitFor();
    assert.equal(await row("sim_probe_rich_result").locator(".pill").textContent(), "Allow");
    await row("sim_probe_confirm").locator(".chip", { hasText: "destructive" }).waitFor();
    assert.equal(await row("sim_probe_confirm").locator(".pill").textContent(), "Ask");
    assert.equal(await row(TOOL).locator(".chip-new").count(), 0, "one of Coder's own tools is marked new");
    const policy = await stack.request("GET", "/api/policy");
    const rich = policy.tools.find((t) => t.tool === "sim_probe_rich_result");
    assert.equal(rich.new, true);
    assert.equal(rich.source, "annotation");
  });

  it("resets an always-allow when the tool's description changes, and says so", { timeout: STEP_MS }, async () => {
    await row(TOOL).locator(`#policy-${TOOL}-all`).selectOption("allow");
    await until("the allow override", async () => {
      const policy = await stack.request("GET", "/api/policy");
      return policy.tools.find((t) => t.tool === TOOL)?.overrides?.["*"] === "allow";
    }, 10_000);

    // The deployment is upgraded: the tool now says it does something else.
    const redefined = await fetch(`${stack.sim.url.replace(/\/$/, "")}/sim/probe/redefine`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ tool: TOOL, description: NEW_DESCRIPTION }),
    });
    assert.equal(redefined.status, 204);

    await showPolicy();
    const note = row(TOOL).locator(".changed-note");
    await note.waitFor({ timeout: 15_000 });
    assert.match(await note.textContent(), /description or inputs changed/);
    assert.match(await note.textContent(), /all agents/);
    assert.equal(await note.locator("q").textContent(), NEW_DESCRIPTION);
    assert.equal(await row(TOOL).locator(`#policy-${TOOL}-all`).inputValue(), "", "the allow is still selected");
    const policy = await stack.request("GET", "/api/policy");
    const bash = policy.tools.find((t) => t.tool === TOOL);
    assert.equal(bash.overrides["*"], undefined);
    assert.deepEqual(bash.changed.reset, ["*"]);
    await screenshot(page, "policy-changed-light");
    assert.deepEqual(await axeViolations(page), []);

    // Allowing it again, for the new definition, answers the mark.
    await row(TOOL).locator(`#policy-${TOOL}-all`).selectOption("allow");
    await until("the mark to go", async () => {
      const now = await stack.request("GET", "/api/policy");
      const tool = now.tools.find((t) => t.tool === TOOL);
      return tool.overrides["*"] === "allow" && !tool.changed;
    }, 10_000);
    await showPolicy();
    assert.equal(await row(TOOL).locator(".changed-note").count(), 0);
  });

  it("logged no script errors or CSP refusals", () => {
    assert.deepEqual(problems, []);
  });
});

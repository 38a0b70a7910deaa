// Policy: allow / ask / deny per tool, for all agents or one agent.
//
// Each cell is a select; "default" clears the override so the tool falls back
// to the next level (agent → all agents → the tool's default).

import { get, put } from "../api.js";
import { h, replace } from "../dom.js";
import { on } from "../store.js";

const DECISIONS = ["allow", "ask", "deny"];
const LABEL = { allow: "Allow", ask: "Ask", deny: "Deny" };
const SOURCES = {
  annotation: "From the tool's annotations",
  builtin: "From the built-in table of Coder's tools",
  default: "Unknown tool: asks to be safe",
  override: "Your setting",
};

export function render(root, { showError, clearError }) {
  const body = h("div", { id: "policy-body" }, h("p", { class: "muted" }, "Loading policy…"));
  const filter = h("input", { id: "policy-filter", type: "search", placeholder: "coder_workspace", autocomplete: "off" });
  const announcer = h("p", { class: "offscreen", "aria-live": "polite" });
  let policy = null;

  replace(
    root,
    h("h1", {}, "Policy"),
    h("p", { class: "muted" }, "What happens when an agent calls a tool: Allow runs it, Ask waits for your answer on the Consent page, Deny refuses it. A setting for one agent wins over the one for all agents, which wins over the tool's default."),
    h("div", { class: "field field-inline" }, h("label", { for: "policy-filter" }, "Find a tool"), filter),
    body,
    announcer,
  );

  filter.addEventListener("input", () => applyFilter());

  async function load() {
    try {
      policy = await get("/api/policy");
      draw();
    } catch (error) {
      replace(body, h("p", { class: "error-text" }, `Cannot load the policy: ${error.message}`));
    }
  }

  function draw() {
    const focusedId = document.activeElement?.id;
    const columns = [{ key: "*", label: "All agents" }, ...policy.agents.map((a) => ({ key: a, label: a }))];
    replace(
      body,
      h("div", { class: "table-wrap" },
        h("table", { class: "policy" },
          h("caption", { class: "offscreen" }, "Tool policy per agent"),
          h("thead", {}, h("tr", {},
            h("th", { scope: "col" }, "Tool"),
            h("th", { scope: "col" }, "Default"),
            columns.map((c) => h("th", { scope: "col" }, c.label)))),
          h("tbody", {}, policy.tools.map((tool) => row(tool, columns))),
        ),
      ),
    );
    if (focusedId) document.getElementById(focusedId)?.focus();
    applyFilter();
  }

  function row(tool, columns) {
    return h("tr", { "data-tool": tool.tool },
      h("th", { scope: "row" },
        h("code", {}, tool.tool),
        tool.title ? h("div", { class: "muted small" }, tool.title) : null,
        tool.new ? h("span", { class: "chip chip-new", title: "Coder added this tool after this release of Coder Bridge: its default comes from its annotations" }, "new") : null,
        tool.destructive ? h("span", { class: "chip chip-bad" }, "destructive") : null,
        tool.irreversible ? h("span", { class: "chip chip-bad" }, "irreversible") : null,
        tool.starts_workspace ? h("span", { class: "chip chip-warn" }, "may start a workspace") : null,
        tool.changed ? changedNote(tool) : null,
      ),
      h("td", {}, h("span", { class: `pill pill-${tool.default}`, title: SOURCES[tool.source] ?? tool.source }, LABEL[tool.default] ?? tool.default)),
      columns.map((c) => h("td", {}, cell(tool, c))),
    );
  }

  // A tool that changed what it says it does after it was allowed always:
  // the "allow" was reset, and it stays marked until a decision is set again.
  function changedNote(tool) {
    const scopes = tool.changed.reset.map((s) => (s === "*" ? "all agents" : s)).join(", ");
    return h("div", { class: "changed-note", role: "note" },
      h("span", { class: "chip chip-warn" }, "changed"),
      ` Its description or inputs changed, so "Allow" (${scopes}) was reset: it asks again. `,
      tool.changed.description ? h("q", { class: "changed-description" }, tool.changed.description) : null,
    );
  }

  function cell(tool, column) {
    const current = tool.overrides?.[column.key] ?? "";
    const id = `policy-${tool.tool}-${column.key === "*" ? "all" : column.key}`;
    const sel = h("select", {
      id,
      class: current ? `decision decision-${current}` : "decision",
      "aria-label": `${tool.tool}, ${column.key === "*" ? "all agents" : column.label}`,
      "data-agent": column.key,
    },
    h("option", { value: "", selected: current === "" }, column.key === "*" ? "Default" : "Inherit"),
    DECISIONS.map((d) => h("option", { value: d, selected: current === d }, LABEL[d])),
    );
    sel.addEventListener("change", () => save(tool, column, sel));
    return sel;
  }

  async function save(tool, column, sel) {
    clearError();
    sel.disabled = true;
    try {
      policy = await put("/api/policy", {
        tool: tool.tool,
        agent: column.key === "*" ? null : column.key,
        decision: sel.value || null,
      });
      announcer.textContent = `${tool.tool} for ${column.key === "*" ? "all agents" : column.label}: ${sel.value ? LABEL[sel.value] : "default"}.`;
      sel.disabled = false;
      draw();
    } catch (error) {
      sel.disabled = false;
      sel.value = tool.overrides?.[column.key] ?? "";
      showError(error, "The policy was not changed");
    }
  }

  function applyFilter() {
    const needle = filter.value.trim().toLowerCase();
    for (const tr of body.querySelectorAll("tbody tr")) {
      tr.hidden = Boolean(needle) && !tr.dataset.tool.toLowerCase().includes(needle);
    }
  }

  const offs = [on("policy-changed", load), on("resync", load)];
  load();
  return () => offs.forEach((off) => off());
}

// Agents: which agents are installed, configured and up to date; configure
// (after previewing the diff from a dry run) or unconfigure each one.

import { get, post } from "../api.js";
import { h, replace } from "../dom.js";
import { on } from "../store.js";

export function render(root, { showError, clearError }) {
  const list = h("div", { class: "agent-grid", id: "agent-list" }, h("p", { class: "muted" }, "Loading agents…"));
  const announcer = h("p", { class: "offscreen", "aria-live": "polite" });
  replace(
    root,
    h("h1", {}, "Agents"),
    h("p", { class: "muted" }, "Coder Bridge adds one entry to each agent's MCP settings and leaves everything else in the file as it was. A backup is kept next to the file."),
    list,
    announcer,
  );

  // Open previews survive a refresh of the list (another face may change it).
  const previews = new Map();

  async function load() {
    try {
      const agents = await get("/api/agents");
      // Installed agents first; the sort is stable, so each group keeps the table's order.
      replace(list, [...agents].sort((a, b) => Number(b.installed) - Number(a.installed)).map(card));
    } catch (error) {
      replace(list, h("p", { class: "error-text" }, `Cannot list agents: ${error.message}`));
    }
  }

  function card(agent) {
    const name = agent.name;
    const preview = h("div", { class: "preview", id: `preview-${name}` });
    const configure = h("button", { type: "button", class: "primary", "data-action": "configure", "aria-controls": preview.id, onclick: () => showPreview(agent, preview) },
      agent.configured && !agent.up_to_date ? "Repair…" : agent.configured ? "Check…" : "Configure…");
    const unconfigure = h("button", { type: "button", class: "secondary", "data-action": "unconfigure", disabled: !agent.configured, onclick: () => confirmRemove(agent, preview) }, "Unconfigure…");
    if (previews.has(name)) preview.replaceChildren(...previews.get(name));
    return h("article", { class: "card agent-card", "data-agent": name, "aria-labelledby": `agent-${name}-title` },
      h("header", { class: "agent-head" },
        h("h2", { id: `agent-${name}-title` }, agent.display_name),
        h("ul", { class: "chips", "aria-label": "State" },
          chip(agent.installed, "installed", "not installed"),
          chip(agent.configured, "configured", "not configured"),
          agent.configured ? chip(agent.up_to_date, "up to date", "out of date") : null,
        ),
      ),
      h("p", { class: "small" }, "Config file: ", h("code", { class: "path" }, agent.config_path ?? "–")),
      agent.problems?.length
        ? h("ul", { class: "problems" }, agent.problems.map((p) => h("li", { class: "warning" }, p)))
        : null,
      h("div", { class: "actions" }, configure, unconfigure),
      preview,
    );
  }

  function setPreview(name, el, ...children) {
    if (children.length) previews.set(name, children);
    else previews.delete(name);
    el.replaceChildren(...children);
  }

  async function showPreview(agent, el) {
    clearError();
    let plan;
    try {
      plan = await post(`/api/agents/${encodeURIComponent(agent.name)}/configure`, { dry_run: true });
    } catch (error) {
      showError(error, `Cannot prepare the ${agent.display_name} change`);
      return;
    }
    if (!plan.changed) {
      setPreview(agent.name, el, h("p", { class: "alert alert-ok" }, `${agent.display_name} is already set up: nothing to change in ${plan.config_path}.`));
      return;
    }
    const apply = h("button", { type: "button", class: "primary", "data-action": "apply", onclick: () => applyChange(agent, el) }, `Write ${fileName(plan.config_path)}`);
    const cancel = h("button", { type: "button", class: "ghost", onclick: () => setPreview(agent.name, el) }, "Cancel");
    setPreview(agent.name, el,
      h("h3", {}, `Changes to ${plan.config_path}`),
      diffView(plan.diff),
      h("div", { class: "actions" }, apply, cancel),
    );
    apply.focus();
  }

  async function applyChange(agent, el) {
    clearError();
    try {
      const result = await post(`/api/agents/${encodeURIComponent(agent.name)}/configure`, { dry_run: false });
      setPreview(agent.name, el);
      announcer.textContent = result.applied
        ? `${agent.display_name} configured: wrote ${result.config_path}.`
        : `${agent.display_name} needed no change.`;
      await load();
      focusCard(agent.name);
    } catch (error) {
      showError(error, `Cannot configure ${agent.display_name}`);
    }
  }

  function confirmRemove(agent, el) {
    const yes = h("button", { type: "button", class: "danger", "data-action": "confirm-unconfigure", onclick: () => remove(agent, el) }, "Remove the entry");
    setPreview(agent.name, el,
      h("p", {}, `Remove Coder Bridge from ${agent.display_name}? Only our entry goes; the agent's local token is revoked.`),
      h("div", { class: "actions" }, yes, h("button", { type: "button", class: "ghost", onclick: () => setPreview(agent.name, el) }, "Cancel")),
    );
    yes.focus();
  }

  async function remove(agent, el) {
    clearError();
    try {
      const result = await post(`/api/agents/${encodeURIComponent(agent.name)}/unconfigure`, {});
      setPreview(agent.name, el);
      announcer.textContent = result.removed ? `${agent.display_name}: entry removed.` : `${agent.display_name} had no entry.`;
      await load();
      focusCard(agent.name);
    } catch (error) {
      showError(error, `Cannot unconfigure ${agent.display_name}`);
    }
  }

  function focusCard(name) {
    list.querySelector(`[data-agent="${CSS.escape(name)}"] button[data-action="configure"]`)?.focus();
  }

  const offs = [on("agents-changed", load), on("resync", load)];
  load();
  return () => offs.forEach((off) => off());
}

function chip(yes, onText, offText) {
  return h("li", { class: `chip ${yes ? "chip-ok" : "chip-off"}` }, yes ? onText : offText);
}

function fileName(path) {
  return (path ?? "").split(/[\\/]/).pop() || "the file";
}

function diffView(diff) {
  const lines = (diff ?? "").split("\n");
  return h("pre", { class: "diff", "aria-label": "Unified diff" },
    lines.map((line) => {
      const kind = line.startsWith("+++") || line.startsWith("---") ? "file"
        : line.startsWith("@@") ? "hunk"
          : line.startsWith("+") ? "add"
            : line.startsWith("-") ? "del" : "ctx";
      return h("span", { class: `diff-${kind}` }, `${line}\n`);
    }),
  );
}

// Status: who is signed in where, how the relay is doing, the local endpoint,
// and each agent's config entry to copy.

import { get, post } from "../api.js";
import { copyText } from "../clipboard.js";
import { formatTime, h, relative, replace } from "../dom.js";
import { on, state } from "../store.js";

const STORAGE = {
  keyring: "OS keychain",
  file: "File readable only by you (no keychain available)",
};

const RELAY = {
  connected: ["ok", "Connected"],
  connecting: ["pending", "Connecting…"],
  signed_out: ["warn", "Signed out"],
  error: ["bad", "Error"],
};

export function render(root, { showError, clearError }) {
  const summary = h("div");
  const agentsList = h("div", { class: "stack" }, h("p", { class: "muted" }, "Loading agents…"));
  const announcer = h("p", { class: "offscreen", "aria-live": "polite" });

  replace(
    root,
    h("h1", {}, "Status"),
    summary,
    h("section", { class: "stack", "aria-labelledby": "entries-title" },
      h("h2", { id: "entries-title" }, "Agent config entries"),
      h("p", { class: "muted" }, "Paste an entry into an agent's MCP settings, or let the Agents page write it for you. Each entry carries that agent's own local token."),
      agentsList,
    ),
    announcer,
  );

  function draw() {
    const s = state.status;
    if (!s) return;
    const [relayTone, relayText] = RELAY[s.relay?.state] ?? ["pending", s.relay?.state ?? "unknown"];
    const user = s.user;
    replace(
      summary,
      h("dl", { class: "facts card" },
        fact("Deployment", s.deployment
          ? [h("a", { href: s.deployment, target: "_blank", rel: "noopener" }, s.deployment), s.demo ? h("span", { class: "chip" }, "demo") : null]
          : "–"),
        fact("Signed in as", user
          ? h("span", { id: "status-user" }, h("strong", {}, user.username), user.name ? ` (${user.name})` : "", user.email ? h("span", { class: "muted" }, ` ${user.email}`) : "")
          : "–"),
        fact("Token expires", s.expires_at
          ? h("span", { title: new Date(s.expires_at).toISOString() }, `${relative(s.expires_at)} · ${formatTime(s.expires_at)}`)
          : s.demo ? "Never (demo session)" : "–"),
        fact("Secret storage", s.storage_backend
          ? (STORAGE[s.storage_backend] ?? s.storage_backend)
          : s.demo ? "Memory only (demo session; your real sign-in is untouched)" : "–"),
        fact("Relay to Coder", [
          h("span", { class: `pill pill-${relayTone}`, id: "relay-state" }, relayText),
          s.relay?.error ? h("span", { class: "error-text" }, ` ${s.relay.error}`) : null,
        ]),
        fact("Activity record", s.activity_problem
          ? h("span", { class: "error-text", id: "activity-problem" }, s.activity_problem)
          : "Recording"),
        fact("Local endpoint", [
          h("code", { id: "endpoint" }, s.endpoint),
          " ",
          h("button", { type: "button", class: "ghost small", onclick: () => copy(s.endpoint, "Endpoint") }, "Copy"),
        ]),
        fact("Version", s.version ?? "–"),
      ),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", id: "signout", onclick: signOut }, "Sign out"),
      ),
    );
  }

  async function signOut() {
    clearError();
    try {
      await post("/api/signout", {});
    } catch (error) {
      showError(error, "Sign-out failed");
    }
    // The `status` event moves the page to First run.
  }

  async function loadAgents() {
    try {
      const agents = await get("/api/agents");
      replace(agentsList, h("ul", { class: "entry-list" }, agents.map(entryRow)));
    } catch (error) {
      replace(agentsList, h("p", { class: "error-text" }, `Cannot list agents: ${error.message}`));
    }
  }

  function entryRow(agent) {
    const details = h("pre", { class: "snippet", hidden: true, id: `entry-${agent.name}` });
    const toggleText = h("span", {}, "Show");
    const toggle = h("button", { type: "button", class: "ghost small", "aria-expanded": "false", "aria-controls": details.id, onclick: show }, toggleText, h("span", { class: "offscreen" }, ` the ${agent.display_name} entry`));
    async function fetchEntry() {
      // POST: showing or copying the entry is what issues the agent its token.
      return post(`/api/agents/${encodeURIComponent(agent.name)}/entry`, {});
    }
    async function show() {
      if (!details.hidden) {
        details.hidden = true;
        toggle.setAttribute("aria-expanded", "false");
        toggleText.textContent = "Show";
        return;
      }
      try {
        details.textContent = (await fetchEntry()).snippet;
        details.hidden = false;
        toggle.setAttribute("aria-expanded", "true");
        toggleText.textContent = "Hide";
      } catch (error) {
        showError(error, `Cannot load the ${agent.display_name} entry`);
      }
    }
    async function copyEntry() {
      try {
        const entry = await fetchEntry();
        await copy(entry.snippet, `${agent.display_name} entry`);
      } catch (error) {
        showError(error, `Cannot copy the ${agent.display_name} entry`);
      }
    }
    return h("li", { class: "entry-row" },
      h("div", { class: "entry-head" },
        h("span", { class: "entry-name" }, agent.display_name),
        agent.configured ? h("span", { class: "chip chip-ok" }, "configured") : null,
        h("span", { class: "spacer" }),
        toggle,
        h("button", { type: "button", class: "secondary small", "data-copy": agent.name, onclick: copyEntry }, "Copy entry", h("span", { class: "offscreen" }, ` for ${agent.display_name}`)),
      ),
      details,
    );
  }

  let toastTimer = null;
  async function copy(text, what) {
    const ok = await copyText(text);
    announcer.textContent = ok ? `${what} copied to the clipboard.` : `Could not copy the ${what}: select it and copy by hand.`;
    announcer.className = ok ? "toast" : "toast toast-bad";
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      announcer.className = "offscreen";
      announcer.textContent = "";
    }, 4000);
  }

  // Expiry is shown relative to now: refresh the text, not the data.
  const tick = setInterval(draw, 30000);
  const unsubscribe = [on("status", draw), on("agents-changed", loadAgents)];
  draw();
  loadAgents();
  return () => {
    clearInterval(tick);
    for (const off of unsubscribe) off();
  };
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

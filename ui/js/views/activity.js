// Activity: the live feed of calls (SSE) with filters, and charts of calls
// and latency per tool and per agent from /api/activity/stats.

import { describeAnswerer } from "../answerer.js";
import { get, query } from "../api.js";
import { barChart } from "../charts.js";
import { formatBytes, formatMs, formatTime, h, replace } from "../dom.js";
import { on, state } from "../store.js";

const OUTCOMES = {
  ok: "OK",
  tool_error: "Tool error",
  failed: "Failed",
  denied: "Denied",
  timed_out: "Timed out",
};

const CONSENT = {
  allowed: "allowed by policy",
  allowed_once: "allowed once",
  allowed_always: "always allowed",
  denied: "denied by you",
  denied_by_policy: "denied by policy",
  timed_out: "no answer",
};

const WINDOWS = [
  [3600, "Last hour"],
  [86400, "Last 24 hours"],
  [604800, "Last 7 days"],
];

const MAX_ROWS = 500;
const STATS_DEBOUNCE_MS = 1500;

export function render(root, { showError }) {
  const filters = { agent: "", tool: "", outcome: "" };
  let windowSecs = 3600;
  const known = { agents: new Set(), tools: new Set() };

  const agentSelect = select("filter-agent", "All agents");
  const toolSelect = select("filter-tool", "All tools");
  const outcomeSelect = select("filter-outcome", "All outcomes");
  for (const [value, label] of Object.entries(OUTCOMES)) outcomeSelect.append(h("option", { value }, label));
  const windowSelect = h("select", { id: "stats-window" }, WINDOWS.map(([secs, label]) => h("option", { value: secs }, label)));

  const tbody = h("tbody", { id: "activity-rows" });
  const feedState = h("p", { class: "muted", "aria-live": "polite" });
  const chartBoxes = {
    toolCalls: h("div", { class: "chart-box", id: "chart-tool-calls" }),
    toolLatency: h("div", { class: "chart-box", id: "chart-tool-latency" }),
    agentCalls: h("div", { class: "chart-box", id: "chart-agent-calls" }),
    agentLatency: h("div", { class: "chart-box", id: "chart-agent-latency" }),
  };
  let charts = [];
  let lastStats = null;

  replace(
    root,
    h("h1", {}, "Activity"),
    h("form", { class: "filters card", "aria-label": "Filter calls", onsubmit: (e) => e.preventDefault() },
      field("filter-agent", "Agent", agentSelect),
      field("filter-tool", "Tool", toolSelect),
      field("filter-outcome", "Outcome", outcomeSelect),
    ),
    h("section", { "aria-labelledby": "charts-title", class: "stack" },
      h("div", { class: "section-head" },
        h("h2", { id: "charts-title" }, "Calls and latency"),
        field("stats-window", "Window", windowSelect),
      ),
      h("div", { class: "chart-grid" }, Object.values(chartBoxes)),
    ),
    h("section", { "aria-labelledby": "feed-title", class: "stack" },
      h("h2", { id: "feed-title" }, "Recent calls"),
      feedState,
      h("div", { class: "table-wrap" },
        h("table", { class: "feed" },
          h("thead", {}, h("tr", {},
            ["Time", "Agent", "Tool", "Outcome", "Latency", "Consent", "Size", "Arguments"].map((t) => h("th", { scope: "col" }, t)))),
          tbody,
        ),
      ),
    ),
  );

  for (const [key, el] of [["agent", agentSelect], ["tool", toolSelect], ["outcome", outcomeSelect]]) {
    el.addEventListener("change", () => {
      filters[key] = el.value;
      loadFeed();
    });
  }
  windowSelect.addEventListener("change", () => {
    windowSecs = Number(windowSelect.value);
    loadStats();
  });

  function remember(row) {
    if (row.agent && !known.agents.has(row.agent)) {
      known.agents.add(row.agent);
      addOption(agentSelect, row.agent);
    }
    if (row.tool && !known.tools.has(row.tool)) {
      known.tools.add(row.tool);
      addOption(toolSelect, row.tool);
    }
  }

  function matches(row) {
    return (!filters.agent || row.agent === filters.agent)
      && (!filters.tool || row.tool === filters.tool)
      && (!filters.outcome || row.outcome === filters.outcome);
  }

  let loadSeq = 0;
  async function loadFeed() {
    const seq = ++loadSeq;
    feedState.textContent = "Loading…";
    try {
      const limit = 100;
      const rows = await get(`/api/activity${query({ limit, ...filters })}`);
      if (seq !== loadSeq) return;
      // Calls seen live but not yet in the database (it is written off the
      // hot path), e.g. one that finished while the Consent view was showing.
      const oldest = rows.length === limit ? rows[rows.length - 1].at : -Infinity;
      const same = (a, b) => a.at === b.at && a.agent === b.agent && a.method === b.method && a.tool === b.tool;
      const missing = state.recentCalls
        .filter((live) => matches(live) && live.at >= oldest && !rows.some((r) => same(r, live)))
        .reverse();
      rows.forEach(remember);
      missing.forEach(remember);
      const merged = [...missing.map((r) => [r, true]), ...rows.map((r) => [r, false])]
        .sort((a, b) => b[0].at - a[0].at);
      replace(tbody, merged.map(([r, live]) => rowFor(r, live)));
      feedState.textContent = rows.length + missing.length ? "" : "No calls yet. They appear here as agents make them.";
    } catch (error) {
      if (seq !== loadSeq) return;
      feedState.textContent = "";
      showError(error, "Cannot load activity");
    }
  }

  let statsTimer = null;
  let statsCatchUp = 0;
  async function loadStats() {
    clearTimeout(statsTimer);
    statsTimer = null;
    let stats;
    try {
      stats = await get(`/api/activity/stats${query({ window_secs: windowSecs })}`);
    } catch (error) {
      showError(error, "Cannot load activity charts");
      return;
    }
    // A call seen live may not be in the database yet (it is written off the
    // hot path): look again shortly, a few times at most.
    const since = Date.now() - windowSecs * 1000;
    const seen = state.recentCalls.filter((c) => c.tool && c.at >= since).length;
    const counted = stats.by_tool.reduce((n, r) => n + r.calls, 0);
    if (counted < seen && statsCatchUp < 3) {
      statsCatchUp += 1;
      statsTimer = setTimeout(loadStats, 500);
    } else {
      statsCatchUp = 0;
    }
    for (const key of stats.by_agent) remember({ agent: key.key });
    for (const key of stats.by_tool) remember({ tool: key.key });
    lastStats = stats;
    await drawCharts(stats);
  }

  async function drawCharts(stats) {
    const old = charts;
    const calls = (rows) => [
      { label: "Calls", values: rows.map((r) => r.calls), color: "--chart-1" },
      { label: "Errors or denied", values: rows.map((r) => r.errors + (r.denied ?? 0)), color: "--chart-bad" },
    ];
    const latency = (rows) => [
      { label: "p50", values: rows.map((r) => r.p50_ms), color: "--chart-1" },
      { label: "p95", values: rows.map((r) => r.p95_ms), color: "--chart-2" },
    ];
    const byTool = [...stats.by_tool].sort((a, b) => b.calls - a.calls);
    const byAgent = [...stats.by_agent].sort((a, b) => b.calls - a.calls);
    const count = (n) => String(Math.round(n));
    charts = await Promise.all([
      barChart(chartBoxes.toolCalls, { title: "Calls per tool", keyLabel: "Tool", labels: byTool.map((r) => r.key), series: calls(byTool), format: count, integer: true }),
      barChart(chartBoxes.toolLatency, { title: "Latency per tool", keyLabel: "Tool", labels: byTool.map((r) => r.key), series: latency(byTool), format: formatMs }),
      barChart(chartBoxes.agentCalls, { title: "Calls per agent", keyLabel: "Agent", labels: byAgent.map((r) => r.key), series: calls(byAgent), format: count, integer: true }),
      barChart(chartBoxes.agentLatency, { title: "Latency per agent", keyLabel: "Agent", labels: byAgent.map((r) => r.key), series: latency(byAgent), format: formatMs }),
    ]);
    for (const chart of old) chart.destroy();
  }

  function redrawForTheme() {
    if (lastStats) drawCharts(lastStats);
  }

  const offCall = on("call", (row) => {
    remember(row);
    if (matches(row)) {
      tbody.prepend(rowFor(row, true));
      while (tbody.rows.length > MAX_ROWS) tbody.lastElementChild.remove();
      feedState.textContent = "";
    }
    // Stats change with every call; coalesce bursts into one fetch.
    if (!statsTimer) statsTimer = setTimeout(loadStats, STATS_DEBOUNCE_MS);
  });
  // Rows sent while the stream was down (or dropped because we lagged) are
  // only in the database: refetch.
  const offReconnect = on("connection", (c) => {
    if (c === "live") {
      loadFeed();
      loadStats();
    }
  });
  const offResync = on("resync", () => {
    loadFeed();
    loadStats();
  });
  const scheme = matchMedia("(prefers-color-scheme: dark)");
  scheme.addEventListener("change", redrawForTheme);

  loadFeed();
  loadStats();
  return () => {
    offCall();
    offReconnect();
    offResync();
    clearTimeout(statsTimer);
    scheme.removeEventListener("change", redrawForTheme);
    for (const chart of charts) chart.destroy();
  };
}

function select(id, allLabel) {
  return h("select", { id }, h("option", { value: "" }, allLabel));
}

function addOption(selectEl, value) {
  const options = [...selectEl.options].slice(1);
  const before = options.find((o) => o.value.localeCompare(value) > 0) ?? null;
  selectEl.insertBefore(h("option", { value }, value), before);
}

function field(id, label, control) {
  return h("div", { class: "field field-inline" }, h("label", { for: id }, label), control);
}

function rowFor(row, live) {
  const latency = row.latency_ms ?? row.latency;
  const outcome = row.outcome ?? "ok";
  return h("tr", { class: live ? "row-new" : null, "data-tool": row.tool ?? "", "data-outcome": outcome },
    h("td", { class: "nowrap" }, formatTime(row.at)),
    // The agent the token belongs to; what the client calls itself is secondary.
    h("td", { class: "agent" }, h("span", { class: "agent-id" }, row.agent),
      row.client_name && row.client_name !== row.agent ? h("div", { class: "client-claim muted small" }, "says it is ", h("q", {}, row.client_name)) : null),
    h("td", {}, h("code", {}, row.tool ?? row.method)),
    h("td", {}, h("span", { class: `pill pill-${outcome}` }, OUTCOMES[outcome] ?? outcome), row.error ? h("div", { class: "error-text small" }, row.error) : null),
    h("td", { class: "num" }, formatMs(latency)),
    h("td", { "data-answered-by": row.answered_by?.face ?? "" }, row.consent ? (CONSENT[row.consent] ?? row.consent) : (row.answered_by ? "" : "–"), answeredBy(row.answered_by)),
    h("td", { class: "num nowrap" }, `${formatBytes(row.bytes_in)} / ${formatBytes(row.bytes_out)}`),
    h("td", { class: "args" }, row.arguments_summary ? h("code", {}, row.arguments_summary) : "–",
      row.args_digest ? h("div", { class: "digest small muted", title: row.args_digest }, `sha256:${row.args_digest.slice(0, 12)}`) : null),
  );
}

// Who answered. Answers given with the control token could come from any
// process of the user, an agent with a shell included: they stand out.
function answeredBy(by) {
  if (!by) return null;
  return h("div", { class: ["small", by.credential === "web_session" ? "muted" : "answered-outside"] }, describeAnswerer(by));
}

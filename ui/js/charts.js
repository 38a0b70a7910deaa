// Bar charts of calls and latency, drawn by uPlot (vendored in ui/vendor/).
//
// uPlot is loaded on first use, so pages without charts never fetch it.
// Colours come from CSS custom properties, so charts follow light and dark
// mode; each chart also gets a table of the same numbers for screen readers
// and for copying.

import { h, replace } from "./dom.js";

let uPlotModule = null;

function loadUPlot() {
  uPlotModule ??= import("../vendor/uPlot.esm.js").then((m) => m.default);
  return uPlotModule;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function truncate(label, max = 22) {
  return label.length > max ? `${label.slice(0, max - 1)}…` : label;
}

/**
 * Draw a grouped bar chart into `container`.
 * spec: { title, keyLabel, labels: [string], integer: bool,
 *         series: [{ label, values: [number], color: "--css-var" }], format: (n) => string }
 * Returns a handle with `destroy()`.
 */
export async function barChart(container, spec) {
  const uPlot = await loadUPlot();
  const { labels, series, format = String } = spec;
  const figure = h("figure", { class: "chart" });
  const plotBox = h("div", { class: "chart-plot", role: "img", "aria-label": describe(spec) });
  const table = h("table", { class: "chart-table" },
    h("caption", { class: "offscreen" }, spec.title),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, spec.keyLabel ?? "Name"), series.map((s) => h("th", { scope: "col" }, s.label)))),
    h("tbody", {}, labels.map((label, i) => h("tr", {}, h("th", { scope: "row" }, label), series.map((s) => h("td", {}, format(s.values[i])))))),
  );
  replace(container, figure);
  figure.append(
    h("figcaption", {}, spec.title),
    labels.length ? plotBox : h("p", { class: "muted empty-chart" }, "No calls in this window."),
    labels.length ? h("details", { class: "chart-numbers" }, h("summary", {}, "Numbers"), table) : null,
  );
  if (!labels.length) return { destroy() {} };

  const axisColor = cssVar("--text-muted");
  const gridColor = cssVar("--border");
  const xs = labels.map((_, i) => i);
  const groups = series.length;
  const bars = series.map((s, i) => ({
    label: s.label,
    stroke: cssVar(s.color),
    fill: cssVar(s.color),
    width: 0,
    value: (_u, v) => (v === null || v === undefined ? "–" : format(v)),
    // Side by side: each series takes its share of the slot around x.
    paths: uPlot.paths.bars({ size: [0.8 / groups, 48], align: groups === 1 ? 0 : i === 0 ? -1 : 1 }),
    points: { show: false },
  }));
  const width = Math.max(240, plotBox.clientWidth || container.clientWidth || 320);
  const rotated = labels.length > 3;
  const opts = {
    width,
    height: 220,
    // Rotated labels hang to the left of their bar: leave room for the first.
    padding: [10, 10, 0, rotated ? 36 : 10],
    legend: { show: true, live: false },
    cursor: { show: true, points: { show: false }, drag: { x: false, y: false } },
    scales: {
      x: { time: false, range: [-0.5, labels.length - 0.5] },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      {
        stroke: axisColor,
        grid: { show: false },
        ticks: { show: false },
        splits: () => xs,
        values: (_u, splits) => splits.map((i) => truncate(labels[i] ?? "")),
        rotate: rotated ? 30 : 0,
        size: rotated ? 90 : 40,
      },
      {
        stroke: axisColor,
        grid: { stroke: gridColor, width: 1 },
        ticks: { stroke: gridColor, width: 1 },
        values: (_u, splits) => tickLabels(splits, format),
        // Counts get whole-number ticks only.
        incrs: spec.integer ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] : undefined,
        size: 64,
      },
    ],
    series: [{ label: spec.keyLabel ?? "Name", value: (_u, v) => labels[v] ?? "" }, ...bars],
  };
  const data = [xs, ...series.map((s) => s.values)];
  const plot = new uPlot(opts, data, plotBox);
  const resize = new ResizeObserver(() => {
    const w = Math.max(240, plotBox.clientWidth);
    if (Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height: 220 });
  });
  resize.observe(plotBox);
  return {
    // What was drawn, tick labels included (canvas text is not in the DOM).
    plot,
    destroy() {
      resize.disconnect();
      plot.destroy();
    },
  };
}

/**
 * Labels for an axis's ticks, each different from the others: when `format`
 * rounds two ticks to the same text (0.5 ms and 1 ms both "1 ms"), the ticks
 * are labelled with the fewest decimals that tell them apart.
 * `format(value, decimals)` must honour `decimals`.
 */
export function tickLabels(splits, format) {
  const distinct = (labels) => new Set(labels).size === labels.length;
  const labels = splits.map((v) => format(v));
  for (let decimals = 1; !distinct(labels) && decimals <= 6; decimals++) {
    const finer = splits.map((v) => format(v, decimals));
    if (distinct(finer)) return finer;
  }
  return labels;
}

function describe(spec) {
  const parts = spec.labels.slice(0, 8).map((label, i) => {
    const values = spec.series.map((s) => `${s.label} ${(spec.format ?? String)(s.values[i])}`).join(", ");
    return `${label}: ${values}`;
  });
  const more = spec.labels.length > 8 ? `, and ${spec.labels.length - 8} more` : "";
  return `${spec.title}. ${parts.join("; ")}${more}.`;
}

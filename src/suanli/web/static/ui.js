// Shared pieces of the pages: formatting, tables, Plotly charts (plotly.js is loaded only by
// the pages that draw), and the check that lets a live update skip a redraw.

import { el } from "./app.js";

const PLOT_CONFIG = { responsive: true, displaylogo: false };
export const TERMINAL = new Set(["succeeded", "failed", "cancelled", "rejected"]);
export const STATES = [
  "queued", "pending-approval", "admitted", "running", "succeeded", "failed", "preempted",
  "cancelled", "rejected",
];

export const fmt = (x, digits = 0) =>
  x === null || x === undefined ? "–" : Number(x).toLocaleString("en", {
    maximumFractionDigits: digits, minimumFractionDigits: digits,
  });
export const pct = (x) => `${fmt(100 * x, 1)} %`;
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
// A live update redraws only when the data changed, so focus, scroll and hover stay put.
const lastData = new Map();
export function unchanged(key, data, first) {
  const text = JSON.stringify(data);
  const same = !first && lastData.get(key) === text;
  lastData.set(key, text);
  return same;
}

export const narrow = () => window.innerWidth < 600;
export const badge = (state) => el("span", { class: `badge state-${state}` }, state);

export function table(caption, head, rows, numeric = []) {
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, head.map((h, i) =>
        el("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c, i) =>
        el("td", { class: numeric.includes(i) ? "num" : null }, c)))))
    )
  );
}

export const kv = (pairs) =>
  el("dl", { class: "grid kv" }, pairs.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));

// plotly.js (its basic bundle, 1.2 MB) is loaded only by the pages that draw charts, while
// they fetch their data; the network map is our own SVG (map.js)
let plotlyLoaded = null;
export function loadPlotly() {
  plotlyLoaded ||= new Promise((resolve, reject) => {
    const script = el("script", { src: "vendor/plotly-basic.min.js" });
    script.onload = resolve;
    script.onerror = () => reject(new Error("plotly.js did not load"));
    document.head.append(script);
  });
  return plotlyLoaded;
}

let pendingPlots = [];
export function plot(id, traces, layout) {
  pendingPlots.push([id, traces, layout]);
  return el("div", { id, class: "chart", role: "img",
    "aria-label": layout.title?.text || layout.title || id });
}

export async function drawPlots() {
  const todo = pendingPlots;
  pendingPlots = [];
  if (todo.length) await loadPlotly();
  for (const [id, traces, layout] of todo) {
    const node = document.getElementById(id);
    if (!node) continue;
    const base = { margin: { l: 55, r: 55, t: 70, b: 40 },
      legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom" } };
    await window.Plotly.react(node, traces, { ...base, ...layout }, PLOT_CONFIG);
  }
}

// The network map (our own SVG, map.js: no plotly.js on this page) and the site page (Plotly
// charts of a site's hours, plotly.js loaded only there).

import { api, el } from "./app.js";
import { colorAt, drawMap, legend, radius } from "./map.js";
import {
  drawPlots, fmt, kv, loadPlotly, narrow, pct, plot, table, unchanged, when,
} from "./ui.js";

// -- network map -------------------------------------------------------------------------

const world = { topo: null, countries: null };
let worldLoaded = null;
function loadWorld() {
  worldLoaded ||= fetch("vendor/world_110m.json").then((r) => {
    if (!r.ok) throw new Error(`the base map did not load (${r.status})`);
    return r.json();
  }).then((topo) => { world.topo = topo; });
  return worldLoaded;
}

//: colour by: [label, unit, scale (low to high), value, digits, fixed range]
const COLOR_BY = {
  utilization: ["utilization", "share in use", "YlOrRd", (s) => s.utilization, 2, [0, 1]],
  price: ["price now", "yuan/kWh", "Viridis", (s) => s.priceYuanPerKwh, 3, null],
  carbon: ["carbon now", "kgCO2/kWh", "GnYlRd", (s) => s.carbonKgPerKwh, 3, null],
};
let colorBy = "utilization";
let maxLatency = 15;
//: the map's views: China's national network and its neighbours, or every site
const VIEWS = {
  china: { label: "China and neighbours", bounds: () => [[97, 19], [141, 46]] },
  world: { label: "World (partner sites)", bounds: (sites) => paddedBox(sites, 8) },
};
let view = "china";
let lastNetwork = null;

function paddedBox(sites, pad) {
  const lons = sites.map((s) => s.lon), lats = sites.map((s) => s.lat);
  const box = [[Math.min(...lons) - pad, Math.min(...lats) - pad], [Math.max(...lons) + pad, Math.max(...lats) + pad]];
  return sites.length ? box : [[-180, -60], [180, 80]];
}

function colorRange(net) {
  const [, , , value, , fixed] = COLOR_BY[colorBy];
  if (fixed) return fixed;
  const values = net.sites.map(value);
  return [Math.min(...values), Math.max(...values)];
}

function siteLines(s) {
  return [
    `${s.name} (${s.id}, hub ${s.hub}, ${s.state})`,
    `${fmt(s.inUse, 1)} of ${fmt(s.accelerators)} accelerators in use (${pct(s.utilization)})`,
    `price now ${fmt(s.priceYuanPerKwh, 3)} yuan/kWh`,
    `carbon now ${fmt(s.carbonKgPerKwh, 3)} kgCO2/kWh`,
  ];
}

function mapFigure(net) {
  if (!net.sites.length) {
    return el("div", { id: "map-chart", class: "map" }, el("p", { class: "empty" },
      "No sites yet: an operator adds them with `POST /v1/sites` (a new database is seeded with a scenario's sites), and they appear here."));
  }
  const [label, unit, scale, value, digits] = COLOR_BY[colorBy];
  const [lo, hi] = colorRange(net);
  const maxAcc = Math.max(1, ...net.sites.map((s) => s.accelerators));
  const sites = net.sites.map((s) => ({
    id: s.id, name: s.name, lon: s.lon, lat: s.lat, radius: radius(s.accelerators, maxAcc),
    color: colorAt(scale, hi > lo ? (value(s) - lo) / (hi - lo) : 0.5), label: siteLines(s),
  }));
  const links = shownLinks(net).map((l) => ({ a: l.src, b: l.dst, text: linkText(l) }));
  const width = Math.max(260, Math.round(frameWidth()) - 2); // less the border
  const height = Math.round(Math.min(520, Math.max(260, width * (narrow() ? 0.9 : 0.5))));
  const v = VIEWS[view];
  // the marker's accessible name says the same: the tooltip is for the eyes
  const tip = el("div", { class: "map-tip", id: "map-tip", "aria-hidden": "true", hidden: true });
  const { node, offView } = drawMap({
    world, view: { label: v.label, bounds: v.bounds(net.sites) }, sites, links, width, height,
    onFocus: (s, x, y) => showTip(tip, s, x, y, width),
  });
  const sizes = [maxAcc / 4, maxAcc].map((n) => Math.round(n)).filter((n) => n > 0)
    .map((n) => [n, radius(n, maxAcc)]);
  const off = offView.length ? el("p", { class: "note", id: "map-off-view" },
    `Outside this view (choose World): `,
    offView.flatMap((s, i) => [i ? ", " : "", el("a", { href: `#/sites/${encodeURIComponent(s.id)}` }, s.name)])) : null;
  return el("div", { id: "map-chart", class: "map" },
    el("div", { class: "map-canvas" }, node, tip),
    legend({ title: `${label} (${unit})`, scale, lo, hi, digits, sizes }), off);
}

function summary(net) {
  const total = net.sites.reduce((a, s) => a + s.accelerators, 0);
  const used = net.sites.reduce((a, s) => a + s.inUse, 0);
  return el("p", { class: "note", id: "map-summary" }, `${net.sites.length} sites, ${fmt(total)} accelerators, ${fmt(used, 1)} in use; hour ${fmt(net.hour, 2)} of the service (${when(net.at)}). Marker area: accelerators; colour: your choice below; lines: links up to the latency chosen (hover one for its latency). Select a site for its pools and curves.`);
}

/** The width the map has: its frame's, or before the frame is in the page, main's content. */
function frameWidth() {
  const frame = document.getElementById("map-frame");
  if (frame?.clientWidth) return frame.clientWidth;
  const main = document.getElementById("main");
  const style = getComputedStyle(main);
  return main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
}

function showTip(tip, site, x, y, width) {
  if (!site) {
    tip.hidden = true;
    return;
  }
  tip.replaceChildren(...site.label.map((line, i) => (i ? el("div", {}, line) : el("strong", {}, line))));
  tip.hidden = false;
  // beside the marker, on the side with room
  tip.style.top = `${Math.max(0, y - 10)}px`;
  tip.style.left = x < width / 2 ? `${x + site.radius + 8}px` : "";
  tip.style.right = x < width / 2 ? "" : `${width - x + site.radius + 8}px`;
}

const shownLinks = (net) => net.links.filter((l) => l.latencyMs <= maxLatency);
const linkText = (l) => `${l.src} ↔ ${l.dst}: ${fmt(l.latencyMs, 1)} ms one way, ${fmt(l.bandwidthGbps)} Gbit/s`;

export const mapPage = {
  async render({ first }) {
    const [net] = await Promise.all([api("/network"), loadWorld()]);
    lastNetwork = net;
    if (unchanged("map", net.sites, first)) return null;
    if (!first && document.getElementById("map-chart")) {
      // live update: redraw the map and the table in place, keep the controls
      mapPage.redraw();
      document.getElementById("map-summary").replaceWith(summary(net));
      document.getElementById("sites-table").replaceWith(sitesTable(net));
      return null;
    }
    const select = el("select", { id: "color-by", onchange: (ev) => {
      colorBy = ev.target.value;
      mapPage.redraw();
    } }, Object.entries(COLOR_BY).map(([k, [label]]) =>
      el("option", { value: k, selected: k === colorBy }, label)));
    const latency = el("input", { id: "max-latency", type: "number", min: 0, max: 500, step: 1,
      value: maxLatency, onchange: (ev) => { maxLatency = Number(ev.target.value) || 0; mapPage.redraw(); } });
    const viewSelect = el("select", { id: "map-view", onchange: (ev) => {
      view = ev.target.value;
      mapPage.redraw();
    } }, Object.entries(VIEWS).map(([k, v]) => el("option", { value: k, selected: k === view }, v.label)));
    return el("section", { "aria-labelledby": "map-title" },
      el("h1", { id: "map-title" }, "The network now"), summary(net),
      el("div", { class: "filters" },
        el("label", { for: "map-view" }, "View", viewSelect),
        el("label", { for: "color-by" }, "Colour by", select),
        el("label", { for: "max-latency" }, "Links up to (ms one way)", latency)),
      el("div", { id: "map-frame" }, mapFigure(net)),
      sitesTable(net), linksTable(net));
  },
  /** Draws the map anew (new data, view, colour, latency or width); a marker that had the
   * focus gets it back, an open list of links stays open. */
  redraw() {
    const frame = document.getElementById("map-frame");
    if (!frame || !lastNetwork) return;
    const focused = document.activeElement?.closest?.("a.site")?.dataset.site;
    frame.replaceChildren(mapFigure(lastNetwork));
    if (focused) frame.querySelector(`a.site[data-site="${CSS.escape(focused)}"]`)?.focus();
    const links = document.getElementById("links-table");
    if (links) {
      const open = links.open;
      links.replaceWith(linksTable(lastNetwork));
      document.getElementById("links-table").open = open;
    }
  },
};

// a narrower or wider window redraws the map at its new width
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => mapPage.redraw(), 150);
});

function sitesTable(net) {
  const wrap = table(
    "Sites (select a site for its pools and curves)",
    ["site", "hub", "state", "accelerators", "in use", "utilization", "planned", "yuan/kWh", "kgCO2/kWh"],
    net.sites.map((s) => [
      el("a", { href: `#/sites/${encodeURIComponent(s.id)}` }, s.name),
      s.hub, s.state, fmt(s.accelerators), fmt(s.inUse, 1), pct(s.utilization), fmt(s.planned),
      fmt(s.priceYuanPerKwh, 3), fmt(s.carbonKgPerKwh, 3),
    ]),
    [3, 4, 5, 6, 7, 8]
  );
  wrap.id = "sites-table";
  return wrap;
}

function linksTable(net) {
  const links = shownLinks(net);
  const box = el("details", { id: "links-table", class: "links-details" },
    el("summary", {}, `Links drawn: ${links.length} of ${net.links.length} (up to ${fmt(maxLatency)} ms one way)`),
    links.length ? table("Links on the map", ["from", "to", "latency ms (one way)", "Gbit/s"],
      links.map((l) => [l.src, l.dst, fmt(l.latencyMs, 1), fmt(l.bandwidthGbps)]), [2, 3])
      : el("p", { class: "empty" }, "No link is this fast: raise the latency above."));
  return box;
}

// -- site detail -------------------------------------------------------------------------

export const sitePage = {
  nav: "map",
  charts: true,
  async render({ args, first }) {
    const id = decodeURIComponent(args[0] || "");
    loadPlotly();
    const [net, series] = await Promise.all([api("/network"), api(`/sites/${encodeURIComponent(id)}/series`)]);
    const site = net.sites.find((s) => s.id === id);
    if (unchanged("site", [id, site, series.hours, series.load, series.pools, series.priceSource, series.carbonSource], first)) return null;
    // service hours as instants: hour h is net.at + (h - net.hour) hours
    const at = (h) => new Date(Date.parse(net.at) + (h - net.hour) * 3600e3);
    const x = series.hours.map((h) => at(h)); // each hour's start: lines step there ("hv")
    const mid = series.hours.map((h) => at(h + 0.5)); // and bars sit in its middle
    const nowAt = at(series.nowHour);
    const now = [{ type: "line", x0: nowAt, x1: nowAt, yref: "paper", y0: 0, y1: 1,
      line: { dash: "dot", color: "#b42318" } }];
    const loadBars = { type: "bar", x: mid, y: series.load, name: "load (accelerators)",
      marker: { color: "#9db4d6" }, yaxis: "y" };
    const axes = (right) => ({
      xaxis: { type: "date" }, shapes: now, bargap: 0,
      yaxis: { title: { text: "accelerators" }, rangemode: "tozero" },
      yaxis2: { title: { text: right }, overlaying: "y", side: "right" },
    });
    return el("section", { "aria-labelledby": "site-title" },
      el("p", {}, el("a", { href: "#/map" }, "← Network map")),
      el("h1", { id: "site-title" }, site ? `${site.name} (${site.id})` : id),
      site ? el("div", { class: "card" }, kv([
        ["hub", site.hub], ["jurisdiction", site.jurisdiction], ["state", site.state],
        ["accelerators", fmt(site.accelerators)], ["in use now", `${fmt(site.inUse, 1)} (${pct(site.utilization)})`],
        ["price now", `${fmt(site.priceYuanPerKwh, 3)} yuan/kWh`], ["carbon now", `${fmt(site.carbonKgPerKwh, 3)} kgCO2/kWh`],
        ["price source", series.priceSource || "–"], ["carbon source", series.carbonSource || "–"],
      ])) : null,
      table("Pools", ["pool", "accelerator", "accelerators", "in use"],
        series.pools.map((p) => [String(p.index), p.accelerator, fmt(p.accelerators), fmt(p.inUse, 1)]), [2, 3]),
      plot("util-chart", [
        { type: "scatter", mode: "lines", x, y: series.utilization, name: "utilization", line: { shape: "hv" } },
        { type: "scatter", mode: "lines", x, y: series.fragmentation, name: "fragmentation (best case)", line: { shape: "hv" } },
      ], { title: { text: "Utilization and fragmentation per hour" }, shapes: now,
        xaxis: { type: "date" }, yaxis: { range: [0, 1.05], tickformat: ".0%" } }),
      plot("price-chart", [loadBars, { type: "scatter", mode: "lines", x,
        y: series.priceYuanPerKwh, name: "price (yuan/kWh)", yaxis: "y2", line: { color: "#0b5cad", shape: "hv" } }],
      { title: { text: "Electricity price with the load on it" }, ...axes("yuan/kWh") }),
      plot("carbon-chart", [loadBars, { type: "scatter", mode: "lines", x,
        y: series.carbonKgPerKwh, name: "carbon (kgCO2/kWh)", yaxis: "y2", line: { color: "#1a7f37", shape: "hv" } }],
      { title: { text: "Grid carbon intensity with the load on it" }, ...axes("kgCO2/kWh") }),
      el("p", { class: "note" }, "Times are local; the dotted line is now. Load ahead of now is the placements already planned. Fragmentation: the share of free accelerators not on a wholly free node, with each pool's load packed onto as few nodes as possible (the service does not record node assignments, so this is a lower bound)."));
  },
  after: drawPlots,
};

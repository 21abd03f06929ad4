// The network map and the site page: Plotly charts of the network now and of a site's hours.

import { api, el } from "./app.js";
import {
  drawPlots, fmt, kv, loadPlotly, narrow, pct, plot, table, unchanged, when,
} from "./ui.js";

// -- network map -------------------------------------------------------------------------

let worldLoaded = null;
async function loadWorld() {
  // Plotly reads base maps from window.PlotlyGeoAssets before trying its CDN; we serve ours.
  worldLoaded ||= fetch("vendor/world_110m.json").then((r) => r.json()).then((topo) => {
    window.PlotlyGeoAssets = { topojson: { world_110m: topo } };
  });
  return worldLoaded;
}

const COLOR_BY = {
  utilization: ["utilization", "share", "YlOrRd", (s) => s.utilization],
  price: ["price now", "yuan/kWh", "Viridis", (s) => s.priceYuanPerKwh],
  carbon: ["carbon now", "kgCO2/kWh", "RdYlGn", (s) => s.carbonKgPerKwh],
};
let colorBy = "utilization";
let maxLatency = 15;
//: the map's view: China's national network, or the world with the partner sites
const VIEWS = {
  china: { label: "China and neighbours", geo: { fitbounds: false, lonaxis: { range: [72, 146] }, lataxis: { range: [16, 54] } } },
  world: { label: "World (partner sites)", geo: { fitbounds: "locations", lonaxis: {}, lataxis: {} } },
};
let view = "china";
let lastNetwork = null;

function mapTraces(net) {
  const byId = Object.fromEntries(net.sites.map((s) => [s.id, s]));
  const lat = [], lon = [], midLat = [], midLon = [], midText = [];
  for (const l of net.links) {
    if (l.latencyMs > maxLatency) continue;
    const a = byId[l.src], b = byId[l.dst];
    if (!a || !b) continue;
    lat.push(a.lat, b.lat, null);
    lon.push(a.lon, b.lon, null);
    midLat.push((a.lat + b.lat) / 2);
    midLon.push((a.lon + b.lon) / 2);
    midText.push(`${a.id} ↔ ${b.id}: ${fmt(l.latencyMs, 1)} ms one way, ${fmt(l.bandwidthGbps)} Gbit/s`);
  }
  const [label, unit, scale, value] = COLOR_BY[colorBy];
  const maxAcc = Math.max(1, ...net.sites.map((s) => s.accelerators));
  return [
    { type: "scattergeo", mode: "lines", lat, lon, hoverinfo: "skip", showlegend: false,
      line: { width: 1, color: "#7a869a" }, opacity: 0.5 },
    { type: "scattergeo", mode: "markers", lat: midLat, lon: midLon, text: midText,
      hoverinfo: "text", showlegend: false, marker: { size: 4, color: "#7a869a" } },
    {
      type: "scattergeo", mode: "markers+text", name: "sites",
      showlegend: false, lat: net.sites.map((s) => s.lat), lon: net.sites.map((s) => s.lon),
      text: net.sites.map((s) => s.id), textposition: "top center", textfont: { size: 10 },
      customdata: net.sites.map((s) => s.id),
      hovertext: net.sites.map((s) =>
        `<b>${s.name}</b> (${s.id}, hub ${s.hub})<br>${fmt(s.inUse, 1)} of ${fmt(s.accelerators)} accelerators in use (${pct(s.utilization)})` +
        `<br>price ${fmt(s.priceYuanPerKwh, 3)} yuan/kWh<br>carbon ${fmt(s.carbonKgPerKwh, 3)} kg/kWh<br>${s.state}`),
      hoverinfo: "text",
      marker: {
        size: net.sites.map((s) => 8 + 32 * Math.sqrt(s.accelerators / maxAcc)),
        color: net.sites.map(value), colorscale: scale, reversescale: colorBy !== "price",
        cmin: colorBy === "utilization" ? 0 : undefined, cmax: colorBy === "utilization" ? 1 : undefined,
        colorbar: { title: { text: `${label} (${unit})` }, ...(narrow()
          ? { orientation: "h", y: -0.05, yanchor: "top", thickness: 12 } : {}) },
        line: { width: 1, color: "#333" },
      },
    },
  ];
}

export const mapPage = {
  charts: true,
  async render({ first }) {
    loadPlotly();
    const [net] = await Promise.all([api("/network"), loadWorld()]);
    lastNetwork = net;
    if (unchanged("map", net.sites, first)) return null;
    if (!first && document.getElementById("map-chart") && window.Plotly) {
      // live update: redraw the chart in place and refresh the table, keep focus and controls
      window.Plotly.react("map-chart", mapTraces(net), mapLayout());
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
    const total = net.sites.reduce((a, s) => a + s.accelerators, 0);
    const used = net.sites.reduce((a, s) => a + s.inUse, 0);
    return el("section", { "aria-labelledby": "map-title" },
      el("h1", { id: "map-title" }, "The network now"),
      el("p", { class: "note" }, `${net.sites.length} sites, ${fmt(total)} accelerators, ${fmt(used, 1)} in use; hour ${fmt(net.hour, 2)} of the service (${when(net.at)}). Marker size: accelerators; colour: your choice below.`),
      el("div", { class: "filters" },
        el("label", { for: "map-view" }, "View", viewSelect),
        el("label", { for: "color-by" }, "Colour by", select),
        el("label", { for: "max-latency" }, "Links up to (ms one way)", latency)),
      plot("map-chart", mapTraces(net), mapLayout()),
      sitesTable(net));
  },
  redraw() {
    window.Plotly?.react("map-chart", mapTraces(lastNetwork), mapLayout());
  },
  after: drawPlots,
};

function mapLayout() {
  return {
    title: { text: "Sites by coordinates" }, height: narrow() ? 420 : 480,
    margin: { l: 10, r: 10, t: 40, b: narrow() ? 60 : 10 },
    geo: { projection: { type: "natural earth" }, showcountries: true, showland: true,
      landcolor: "#f2efe9", countrycolor: "#b9b4aa", resolution: 110, ...VIEWS[view].geo },
  };
}

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

// -- site detail -------------------------------------------------------------------------

export const sitePage = {
  nav: "map",
  charts: true,
  async render({ args, first }) {
    const id = decodeURIComponent(args[0] || "");
    loadPlotly();
    const [net, series] = await Promise.all([api("/network"), api(`/sites/${encodeURIComponent(id)}/series`)]);
    const site = net.sites.find((s) => s.id === id);
    if (unchanged("site", [id, site, series.hours, series.load, series.pools], first)) return null;
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

// The network map as our own SVG: the world base map (TopoJSON) in an equirectangular
// projection, sites as markers placed by coordinates, links as lines. No charting library:
// the page draws in a few milliseconds and never downloads plotly.js.

import { el } from "./app.js";

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element: svg("circle", {r: 3}); children as in el(). */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// -- base map: TopoJSON to lon/lat rings ---------------------------------------------------

/** The arcs of a quantized TopoJSON topology as [lon, lat] points (delta decoding). */
export function decodeArcs(topo) {
  const [sx, sy] = topo.transform.scale;
  const [tx, ty] = topo.transform.translate;
  return topo.arcs.map((arc) => {
    let x = 0, y = 0;
    return arc.map(([dx, dy]) => {
      x += dx;
      y += dy;
      return [x * sx + tx, y * sy + ty];
    });
  });
}

/** A ring's longitudes made continuous: a step of more than 180 degrees crosses the
 * antimeridian, so the points after it move by 360 (Fiji's ring spans 177 to 182, not a
 * line across the map). */
export function unwrap(ring) {
  let shift = 0, prev = null;
  return ring.map(([lon, lat]) => {
    if (prev !== null) {
      const step = lon + shift - prev;
      if (step > 180) shift -= 360;
      else if (step < -180) shift += 360;
    }
    prev = lon + shift;
    return [prev, lat];
  });
}

/** The rings (lists of [lon, lat]) of each polygon geometry of ``objects[name]``, less the
 * ``skip`` ids (Antarctica: its ring runs along the pole, no view here shows it). */
export function rings(topo, name, arcs = decodeArcs(topo), skip = ["ATA"]) {
  const ring = (indices) => {
    const points = [];
    for (const i of indices) {
      const arc = i < 0 ? arcs[~i].slice().reverse() : arcs[i];
      // consecutive arcs share their joining point
      points.push(...(points.length ? arc.slice(1) : arc));
    }
    return unwrap(points);
  };
  return topo.objects[name].geometries.filter((g) => !skip.includes(g.id)).map((g) => {
    if (g.type === "Polygon") return g.arcs.map(ring);
    if (g.type === "MultiPolygon") return g.arcs.flatMap((polygon) => polygon.map(ring));
    return [];
  });
}

// -- projection ------------------------------------------------------------------------------

/** Equirectangular projection with standard parallel ``phi0`` (degrees), fitted so that the
 * box ``[[lon0, lat0], [lon1, lat1]]`` fills a ``width`` x ``height`` frame (pixels), centred;
 * the frame shows more of the world on the sides the box does not fill. */
export function fitProjection([[lon0, lat0], [lon1, lat1]], width, height, pad = 12) {
  const phi0 = Math.min(45, Math.abs((lat0 + lat1) / 2));
  const k = Math.cos((phi0 * Math.PI) / 180);
  const scale = Math.min((width - 2 * pad) / ((lon1 - lon0) * k), (height - 2 * pad) / (lat1 - lat0));
  const cx = (lon0 + lon1) / 2, cy = (lat0 + lat1) / 2;
  const project = ([lon, lat]) => [width / 2 + (lon - cx) * k * scale, height / 2 - (lat - cy) * scale];
  project.inside = ([x, y]) => x >= 0 && x <= width && y >= 0 && y <= height;
  return project;
}

const r1 = (v) => Math.round(v * 10) / 10;

function pathOf(polygonRings, project) {
  return polygonRings.map((ring) =>
    `M${ring.map((p) => project(p).map(r1).join(",")).join("L")}Z`).join("");
}

// -- colour scales ---------------------------------------------------------------------------

// ColorBrewer (Cynthia Brewer, Penn State) YlOrRd and RdYlGn, and matplotlib's viridis,
// each sampled at equal steps from low to high
export const SCALES = {
  YlOrRd: ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"],
  Viridis: ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"],
  GnYlRd: ["#006837", "#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#ffffbf", "#fee08b", "#fdae61", "#f46d43", "#d73027", "#a50026"],
};

const hex = (c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));

/** The colour at ``t`` in [0, 1] of a scale, interpolated linearly in RGB. */
export function colorAt(scale, t) {
  const stops = SCALES[scale];
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const [a, b] = [hex(stops[i]), hex(stops[i + 1])];
  const f = x - i;
  return `rgb(${a.map((v, j) => Math.round(v + (b[j] - v) * f)).join(",")})`;
}

// -- labels ----------------------------------------------------------------------------------

/** Greedy label placement: each site's name goes right, left, above or below its marker,
 * the first place inside the ``width`` x ``height`` frame that overlaps neither a marker nor a
 * label placed before (else the least bad of them). Boxes are estimated from the text length
 * (``charW`` pixels a character). */
export function placeLabels(points, width, height, charW = 6.4, lineH = 12) {
  const boxes = points.map(({ x, y, r }) => ({ x0: x - r, x1: x + r, y0: y - r, y1: y + r }));
  const area = (b, o) => Math.max(0, Math.min(b.x1, o.x1) - Math.max(b.x0, o.x0))
    * Math.max(0, Math.min(b.y1, o.y1) - Math.max(b.y0, o.y0));
  const outside = (b) => (b.x0 < 0 || b.x1 > width || b.y0 < 0 || b.y1 > height ? 1e6 : 0);
  return points.map(({ x, y, r, text }, me) => {
    const w = text.length * charW, g = r + 3;
    const options = [
      { x: x + g, y: y + 4, anchor: "start", box: { x0: x + g, x1: x + g + w, y0: y - 8, y1: y + 4 } },
      { x: x - g, y: y + 4, anchor: "end", box: { x0: x - g - w, x1: x - g, y0: y - 8, y1: y + 4 } },
      { x, y: y - g - 2, anchor: "middle", box: { x0: x - w / 2, x1: x + w / 2, y0: y - g - lineH, y1: y - g } },
      { x, y: y + g + 10, anchor: "middle", box: { x0: x - w / 2, x1: x + w / 2, y0: y + g, y1: y + g + lineH } },
    ];
    const cost = (o) => outside(o.box) + boxes.reduce((sum, b, i) => sum + (i === me ? 0 : area(o.box, b)), 0);
    const best = options.reduce((a, o) => (cost(o) < cost(a) ? o : a));
    boxes.push(best.box);
    return best;
  });
}

// -- the map -------------------------------------------------------------------------------

/** Marker radius in pixels: area proportional to accelerators, 4 to 20 px. */
export const radius = (accelerators, maxAccelerators) =>
  4 + 16 * Math.sqrt(Math.max(0, accelerators) / Math.max(1, maxAccelerators));

/**
 * The SVG map. ``world``: the topology; ``view``: {bounds}; ``sites``: [{id, name, lon, lat,
 * accelerators, color, label (the tooltip's lines)}]; ``links``: [{a, b, text}] between site
 * ids. Returns {node, offView: the sites outside the frame}.
 */
export function drawMap({ world, view, sites, links, width, height, onFocus }) {
  const project = fitProjection(view.bounds, width, height);
  world.countries ||= rings(world.topo, "countries");
  const land = svg("g", { class: "land" }, world.countries.map((p) => svg("path", { d: pathOf(p, project) })));
  const at = Object.fromEntries(sites.map((s) => [s.id, project([s.lon, s.lat])]));
  const visible = sites.filter((s) => project.inside(at[s.id]));
  const offView = sites.filter((s) => !project.inside(at[s.id]));
  const lines = svg("g", { class: "links" }, links.filter((l) => at[l.a] && at[l.b]).map((l) => {
    const [[x1, y1], [x2, y2]] = [at[l.a], at[l.b]].map((p) => p.map(r1));
    return svg("g", { class: "link", "data-link": `${l.a}|${l.b}` },
      svg("title", {}, l.text),
      svg("line", { x1, y1, x2, y2, class: "link-line" }),
      svg("line", { x1, y1, x2, y2, class: "link-hit" }));
  }));
  // big markers first, so that small ones stay on top (and reachable by pointer)
  const order = visible.slice().sort((a, b) => b.radius - a.radius || a.id.localeCompare(b.id));
  const markers = svg("g", { class: "sites" }, order.map((s) => {
    const [x, y] = at[s.id].map(r1);
    const mark = (on) => names.querySelector(`[data-site="${CSS.escape(s.id)}"]`)?.classList.toggle("focused", on);
    const show = () => { mark(true); onFocus?.(s, x, y); };
    const hide = () => { mark(false); onFocus?.(null); };
    return svg("a", {
      href: `#/sites/${encodeURIComponent(s.id)}`, class: "site", "data-site": s.id,
      "aria-label": s.label.join("; "), onfocus: show, onmouseenter: show, onblur: hide, onmouseleave: hide,
    }, svg("circle", { cx: x, cy: y, r: r1(s.radius), fill: s.color }));
  }));
  // the names above every marker (the markers carry them as their accessible names)
  const spots = placeLabels(order.map((s) => ({ x: at[s.id][0], y: at[s.id][1], r: s.radius, text: s.id })), width, height);
  const names = svg("g", { class: "names", "aria-hidden": "true" }, order.map((s, i) =>
    svg("text", { x: r1(spots[i].x), y: r1(spots[i].y), "text-anchor": spots[i].anchor, "data-site": s.id }, s.id)));
  const node = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, class: "map-svg",
    role: "group", "aria-label": `Map of ${visible.length} sites by coordinates (${view.label})`,
  }, svg("rect", { class: "ocean", width, height }), land, lines, markers, names);
  return { node, offView };
}

/** A horizontal legend of the colour scale from ``lo`` to ``hi`` and of marker sizes. */
export function legend({ title, scale, lo, hi, digits, sizes }) {
  const stops = SCALES[scale].map((c, i, a) => `${c} ${((100 * i) / (a.length - 1)).toFixed(0)}%`);
  const n = (v) => Number(v).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  return el("div", { class: "map-legend", id: "map-legend" },
    el("div", { class: "legend-scale" },
      el("span", { class: "legend-title" }, title),
      el("span", { class: "legend-bar", style: `background: linear-gradient(to right, ${stops.join(", ")})`,
        role: "img", "aria-label": `colour scale from ${n(lo)} (first colour) to ${n(hi)} (last)` }),
      el("span", { class: "legend-ticks" }, el("span", {}, n(lo)), el("span", {}, n((lo + hi) / 2)), el("span", {}, n(hi)))),
    el("div", { class: "legend-sizes", "aria-hidden": "true" },
      el("span", { class: "legend-title" }, "accelerators"),
      sizes.map(([value, r]) => el("span", { class: "legend-size" },
        svg("svg", { width: 2 * r + 2, height: 2 * r + 2, viewBox: `0 0 ${2 * r + 2} ${2 * r + 2}` },
          svg("circle", { cx: r + 1, cy: r + 1, r })),
        value.toLocaleString("en")))));
}

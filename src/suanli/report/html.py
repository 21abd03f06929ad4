"""The self-contained HTML report of a simulation (Plotly, works offline).

plotly.js is embedded once; the world base map (`suanli/data/geo`) is inlined as
``window.PlotlyGeoAssets`` so the map of sites needs no network either. The file is written
to a temporary name and renamed, so a failed run never leaves half a report.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from suanli.report.queueing import policy_rows, share_figure, tenant_rows
from suanli.report.summary import summary_dict
from suanli.sim.run import SimulationResult

COLORS = {
    "nearest": "#7f7f7f",
    "cheapest": "#1f77b4",
    "greenest": "#2ca02c",
    "suanli": "#d62728",
}


def _color(name: str) -> str:
    return COLORS.get(name, "#9467bd")


def _div(fig: go.Figure, first: bool) -> str:
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=first,
            config={"displaylogo": False, "responsive": True},
        )
    )


def _policies_figure(result: SimulationResult) -> go.Figure:
    names = list(result.runs)
    ms = [result.runs[n].metrics for n in names]
    panels = [
        ("Objective (yuan)", [m.objective_yuan for m in ms]),
        ("Carbon (t CO2)", [m.carbon_t for m in ms]),
        ("Mean wait (h)", [m.mean_wait_h for m in ms]),
        ("Deadline miss rate", [m.deadline_miss_rate for m in ms]),
        ("Data moved (TB)", [m.data_moved_tb for m in ms]),
    ]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels])
    for c, (_title, values) in enumerate(panels, start=1):
        fig.add_trace(
            go.Bar(x=names, y=values, marker_color=[_color(n) for n in names], showlegend=False),
            row=1,
            col=c,
        )
    if result.bound is not None:
        fig.add_hline(
            y=result.bound.value,
            line_dash="dash",
            annotation_text="lower bound",
            row=1,
            col=1,
        )
    fig.update_layout(height=380, margin={"t": 60, "b": 40})
    return fig


def _carbon_by_site(result: SimulationResult) -> go.Figure:
    sites = list(result.scenario.site_ids)
    fig = go.Figure()
    for i, sid in enumerate(sites):
        fig.add_trace(
            go.Bar(
                name=sid,
                x=list(result.runs),
                y=[float(r.series.carbon_t_by_site[i]) for r in result.runs.values()],
            )
        )
    fig.update_layout(
        barmode="stack",
        title="Where the carbon went: tonnes CO2 emitted at each site, per policy",
        yaxis_title="t CO2",
        height=460,
    )
    return fig


def _fragmentation(result: SimulationResult) -> go.Figure:
    fig = go.Figure()
    for name, run in result.runs.items():
        fig.add_trace(
            go.Bar(
                name=name,
                x=list(result.scenario.site_ids),
                y=100 * run.series.fragmentation_by_site,
                marker_color=_color(name),
            )
        )
    fig.update_layout(
        barmode="group",
        title="Fragmentation per site: share of idle accelerator capacity that the typical task "
        "shapes cannot use (mean over the run, FGD's measure)",
        yaxis_title="% of idle capacity",
        height=420,
    )
    return fig


def _utilization(result: SimulationResult, name: str) -> go.Figure:
    run = result.runs[name]
    scn = result.scenario
    caps = np.array([scn.sites[s].accelerators for s in scn.site_ids], dtype=float)
    util = run.series.busy / np.maximum(caps[:, None], 1.0)
    fig = go.Figure(
        go.Heatmap(
            z=util,
            x=np.arange(run.series.hours),
            y=list(scn.site_ids),
            zmin=0,
            zmax=1,
            colorscale="Viridis",
            colorbar={"title": "busy"},
        )
    )
    fig.update_layout(
        title=f"Utilization per site over time: {name}",
        xaxis_title="hour since start",
        height=440,
    )
    return fig


def _curves(result: SimulationResult) -> go.Figure:
    """Price and carbon per site with the load each policy placed there; a menu picks the site."""
    scn = result.scenario
    cost = result.cost
    hours = int(min(cost.horizon_h, max(r.series.hours for r in result.runs.values())))
    x = np.arange(hours)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        specs=[[{"secondary_y": True}], [{}]],
        subplot_titles=("price and carbon intensity", "facility load placed (MW)"),
        vertical_spacing=0.12,
    )
    per_site = 2 + len(result.runs)
    buttons = []
    for i, sid in enumerate(scn.site_ids):
        visible = i == 0
        fig.add_trace(
            go.Scatter(x=x, y=cost.price[i, :hours], name="price (yuan/kWh)", visible=visible),
            row=1,
            col=1,
            secondary_y=False,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=cost.carbon[i, :hours],
                name="carbon (kg/kWh)",
                line={"dash": "dot"},
                visible=visible,
            ),
            row=1,
            col=1,
            secondary_y=True,
        )
        for name, run in result.runs.items():
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=run.series.power_kw[i, :hours] / 1000.0,
                    name=f"load: {name}",
                    line={"color": _color(name)},
                    visible=visible,
                ),
                row=2,
                col=1,
            )
        mask = [False] * (per_site * len(scn.site_ids))
        mask[i * per_site : (i + 1) * per_site] = [True] * per_site
        site = scn.sites[sid]
        buttons.append(
            {
                "label": sid,
                "method": "update",
                "args": [{"visible": mask}, {"title": f"{site.name} ({site.hub})"}],
            }
        )
    first = scn.sites[scn.site_ids[0]]
    fig.update_layout(
        title=f"{first.name} ({first.hub})",
        updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "y": 1.18}],
        height=620,
    )
    fig.update_yaxes(title_text="yuan/kWh", row=1, col=1, secondary_y=False)
    fig.update_yaxes(title_text="kgCO2/kWh", row=1, col=1, secondary_y=True)
    fig.update_xaxes(title_text="hour since start", row=2, col=1)
    return fig


def _map(result: SimulationResult) -> go.Figure:
    scn = result.scenario
    sites = [scn.sites[s] for s in scn.site_ids]
    cost = result.cost
    mean_ci = cost.carbon[:, : scn.hours].mean(axis=1)
    mean_price = cost.price[:, : scn.hours].mean(axis=1)
    acc = np.array([s.accelerators for s in sites], dtype=float)
    text = [
        f"<b>{s.name}</b> ({s.id})<br>hub: {s.hub}<br>{s.accelerators:,} accelerators<br>"
        f"mean price {p:.3f} yuan/kWh<br>mean carbon {c:.3f} kg/kWh<br>PUE {s.pue}"
        for s, p, c in zip(sites, mean_price, mean_ci, strict=True)
    ]
    fig = go.Figure(
        go.Scattergeo(
            lat=[s.lat for s in sites],
            lon=[s.lon for s in sites],
            text=text,
            hoverinfo="text",
            mode="markers+text",
            textposition="top center",
            textfont={"size": 9},
            marker={
                "size": 8 + 30 * np.sqrt(acc / max(acc.max(), 1.0)),
                "color": mean_ci,
                "colorscale": "RdYlGn_r",
                "colorbar": {"title": "kgCO2/kWh"},
                "line": {"width": 1, "color": "#333"},
            },
        )
    )
    fig.data[0].update(texttemplate=[s.id for s in sites])
    fig.update_geos(
        projection_type="natural earth",
        showcountries=True,
        showland=True,
        landcolor="#f2efe9",
        fitbounds="locations",
    )
    fig.update_layout(
        title="Sites: size by accelerators, colour by mean carbon intensity", height=520
    )
    return fig


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sites_table(result: SimulationResult) -> str:
    scn = result.scenario
    rows = [
        [
            s.id,
            s.name,
            s.hub,
            s.jurisdiction,
            f"{s.accelerators:,}",
            ", ".join(f"{p.accelerator} x{p.accelerators}" for p in s.pools),
            f"{s.pue:g}",
            s.notes,
        ]
        for s in (scn.sites[i] for i in scn.site_ids)
    ]
    return _table(
        rows, ["site", "name", "hub", "country", "accelerators", "pools", "PUE", "sources"]
    )


def _catalog_table(result: SimulationResult) -> str:
    """The accelerator catalog, each figure marked sourced (src) or estimated (est)."""
    cat = result.scenario.catalog
    rows = [
        [
            a.name,
            a.vendor + (" (domestic)" if a.domestic else ""),
            str(a.memory_gb),
            str(a.power_kw),
            str(a.train),
            str(a.infer),
            "; ".join(
                sorted({f.source for f in (a.memory_gb, a.power_kw, a.train, a.infer) if f.source})
            ),
        ]
        for a in (cat[n] for n in cat)
    ]
    header = ["type", "vendor", "memory (GB)", "power (kW)", "train (A100=1)", "infer (A100=1)"]
    return _table(rows, [*header, "sources"])


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1200px;
padding:1rem 1.5rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}.note{color:#555;font-size:.85rem}
"""


def render(result: SimulationResult) -> str:
    """The report as one HTML string."""
    summary = summary_dict(result)
    names = list(result.runs)
    rows = []
    for n in names:
        p = summary["policies"][n]
        gap = p["gap_to_lower_bound"]
        rows.append(
            [
                n,
                f"{p['objective_yuan']:,.0f}",
                "-" if gap is None else f"{gap:.2%}",
                f"{p['energy_mwh']:,.1f}",
                f"{p['energy_cost_yuan']:,.0f}",
                f"{p['carbon_t']:,.1f}",
                f"{p['mean_wait_h']:.2f}",
                f"{p['p95_wait_h']:.2f}",
                f"{p['deadline_miss_rate']:.2%}",
                f"{p['utilization']:.1%}",
                f"{p['data_moved_tb']:,.2f}",
                f"{p['jobs_completed']:,}",
                f"{p['jobs_rejected']:,}",
                str(p["residency_violations"]),
                "-" if p["policy_violations"] is None else str(p["policy_violations"]),
                f"{p['approvals_held']:,}/{p['approvals_denied']:,}",
                f"{p['decisions_per_s']:,.0f}",
            ]
        )
    header = [
        "policy", "objective (yuan)", "gap to bound", "energy (MWh)", "energy cost (yuan)",
        "carbon (t)", "mean wait (h)", "p95 wait (h)", "deadline miss", "utilization",
        "data moved (TB)", "completed", "rejected", "residency violations", "policy violations",
        "held/denied for approval", "decisions/s",
    ]  # fmt: skip
    geo = resources.files("suanli") / "data" / "geo" / "world_110m.json"
    assets = json.dumps({"topojson": {"world_110m": json.loads(geo.read_text())}})
    figs = [
        _policies_figure(result),
        _map(result),
        _carbon_by_site(result),
        _curves(result),
        _fragmentation(result),
    ]
    figs += [_utilization(result, n) for n in names]
    figs.append(share_figure(result))
    divs = [_div(f, i == 0) for i, f in enumerate(figs)]
    scn = result.scenario
    bound = result.bound
    bound_text = (
        f"Lower bound on the objective: <b>{bound.value:,.0f} yuan</b> (Lagrangian dual of "
        f"the LP relaxation with full knowledge of arrivals; {len(bound.history)} subgradient "
        f"steps; the bound ignoring capacity is {bound.uncapacitated:,.0f} yuan)."
        if bound
        else "The lower bound was not computed (--no-bound)."
    )
    c = scn.costs
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Suanli report: {html.escape(scn.name)}</title>
<style>{CSS}</style>
<script>window.PlotlyGeoAssets = {assets};</script>
</head><body>
<h1>Suanli simulation: {html.escape(scn.name)}</h1>
<p>{len(result.jobs):,} jobs over {result.window_h:g} hours on {scn.accelerators:,}
accelerators at {len(scn.sites)} sites; offered load {result.offered_load:.2f} (the
accelerator-hours asked, at the reference accelerator, over the network's in that time).
{bound_text}</p>
<p class="note">Objective = energy cost + carbon priced at {c.carbon_price_yuan_per_t:,.0f}
yuan/t + data transfer + latency to users ({c.latency_yuan_per_gpu_h_ms:g} yuan per
accelerator-hour per ms) + deadline penalties ({c.deadline_penalty_yuan_per_gpu_h:g} yuan per
reference GPU-hour of a late or rejected job). {html.escape(scn.description)}</p>
<h2>Policies compared</h2>
{_table(rows, header)}
{divs[0]}
<h2>The network</h2>
{divs[1]}
{_sites_table(result)}
<p class="note">Accelerators (reference: {html.escape(result.scenario.catalog.reference)}):</p>
{_catalog_table(result)}
<h2>Where the carbon went</h2>
{divs[2]}
<h2>Price and carbon with the load placed on them</h2>
{divs[3]}
<h2>Fragmentation per site</h2>
<p class="note">Inside every site, jobs are placed on nodes by the fragmentation-aware
allocator (suanli.alloc): shares of one GPU, whole GPUs and multi-node gangs.</p>
{divs[4]}
<h2>Utilization per site over time</h2>
{"".join(divs[5:-1])}
<h2>Multi-tenant queueing</h2>
<p class="note">JCT: completion minus arrival; JCT floor: the mean JCT no policy can beat
on this workload (each job's best option: its data's arrival there plus its run time there);
Jain: Jain's index of each tenant's received
over entitled accelerator-hours per 6 h window (entitlement: the weighted max-min split of
what was delivered, capped at the tenant's demand); quota violations: starts replayed on the
scenario's queues that broke a quota (docs/queueing.md).</p>
{_table(*policy_rows(result))}
<p class="note">Per tenant:</p>
{_table(*tenant_rows(result))}
<p class="note">Each tenant's share of the delivered accelerator-hours over time:</p>
{divs[-1]}
</body></html>
"""


def write_report(result: SimulationResult, path: Path) -> Path:
    """Write the report atomically (temporary file, then rename)."""
    text = render(result)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".suanli-report-", suffix=".html", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        # mkstemp makes the file private; a report gets the permissions of any new file
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

"""The self-contained HTML report: allocation curves (Fig. 9a), unallocated bars (Figs. 11-14)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from suanli.frag.published import Comparison
from suanli.frag.summary import Summary


def _curves(summaries: Sequence[Summary], trace: str) -> go.Figure:
    fig = go.Figure()
    for s in summaries:
        if s.trace != trace:
            continue
        xs = [x for x, y in enumerate(s.curve) if y is not None]
        fig.add_trace(go.Scatter(x=xs, y=[s.curve[x] for x in xs], mode="lines", name=s.policy))
    fig.update_layout(
        title=f"GPU allocation ratio vs arrived workload ({trace})",
        xaxis_title="Arrived workload (% of cluster GPU capacity)",
        yaxis_title="GPU allocation ratio (%)",
    )
    return fig


def _bars(summaries: Sequence[Summary]) -> go.Figure:
    fig = go.Figure()
    traces = sorted({s.trace for s in summaries})
    for policy in dict.fromkeys(s.policy for s in summaries):
        rows = {s.trace: s for s in summaries if s.policy == policy}
        fig.add_trace(
            go.Bar(
                name=policy,
                x=traces,
                y=[rows[t].mean[100] if t in rows else None for t in traces],
                error_y={
                    "type": "data",
                    "array": [rows[t].sd[100] if t in rows else 0 for t in traces],
                },
            )
        )
    fig.update_layout(
        barmode="group",
        title="Unallocated GPU (%) at 100% arrived workload",
        yaxis_title="Unallocated GPU (%)",
    )
    return fig


def _comparison_table(rows: Sequence[Comparison]) -> str:
    if not rows:
        return ""
    lines = [
        "<h2>Published vs reproduced (unallocated GPU %)</h2>",
        "<table border=1 cellpadding=3>",
    ]
    lines.append(
        "<tr><th>trace</th><th>policy</th><th>arrived %</th>"
        "<th>published</th><th>ours</th><th>diff</th></tr>"
    )
    for c in rows:
        lines.append(
            f"<tr><td>{c.trace}</td><td>{c.policy}</td><td>{c.arrived_pct}</td><td>{c.published:.2f}</td>"
            f"<td>{c.reproduced:.2f}</td><td>{c.deviation:+.2f}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def render(
    summaries: Sequence[Summary], comparisons: Sequence[Comparison] = (), title: str = "suanli frag"
) -> str:
    """One offline HTML page (plotly.js inlined once) with curves per trace, bars and comparison."""
    figures = [_bars(summaries)] + [
        _curves(summaries, t) for t in sorted({s.trace for s in summaries})
    ]
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figures)
    ]
    body = "\n".join(parts) + _comparison_table(comparisons)
    head = f"<head><meta charset='utf-8'><title>{title}</title></head>"
    return f"<!DOCTYPE html>\n<html>{head}<body>\n<h1>{title}</h1>\n{body}\n</body></html>\n"

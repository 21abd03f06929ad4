"""The report's queueing section: per-tenant figures and each tenant's share over time."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from suanli.sim.run import SimulationResult

#: (rows, header) for `suanli.report.html._table`
Rows = tuple[list[list[str]], list[str]]


def tenant_rows(result: SimulationResult) -> Rows:
    """Per policy and tenant: jobs, mean JCT, longest wait and accelerator-hours received."""
    head = ["policy", "tenant", "jobs", "mean JCT (h)", "max wait (h)", "accelerator-h"]
    rows = []
    for name, run in result.runs.items():
        if run.queue is None:
            continue
        for tenant, f in sorted(run.queue.per_tenant.items()):
            rows.append(
                [name, tenant, f"{f.jobs:,}", f"{f.mean_jct_h:.2f}", f"{f.max_wait_h:.2f}",
                 f"{f.gpu_h:,.0f}"]
            )  # fmt: skip
    return rows, head


def share_figure(result: SimulationResult) -> go.Figure:
    """One panel per policy: each tenant's share of the delivered accelerator-hours per
    window (`suanli.sim.queue_metrics`), stacked."""
    names = [n for n, r in result.runs.items() if r.queue is not None]
    fig = make_subplots(
        rows=max(1, len(names)), cols=1, shared_xaxes=True, subplot_titles=names or ["-"]
    )
    for row, name in enumerate(names, start=1):
        queue = result.runs[name].queue
        assert queue is not None
        series: dict[str, tuple[list[float], list[float]]] = {}
        for t, tenant, share in queue.share_series:
            xs, ys = series.setdefault(tenant, ([], []))
            xs.append(t)
            ys.append(share)
        for tenant, (xs, ys) in sorted(series.items()):
            fig.add_trace(
                go.Scatter(
                    x=xs, y=ys, name=tenant, stackgroup=f"s{row}", legendgroup=tenant,
                    showlegend=row == 1, mode="lines",
                ),
                row=row, col=1,
            )  # fmt: skip
    fig.update_yaxes(range=[0, 1], title_text="share")
    fig.update_xaxes(title_text="hours since start", row=max(1, len(names)), col=1)
    fig.update_layout(height=220 * max(1, len(names)) + 80, margin={"t": 60, "b": 40})
    return fig


def policy_rows(result: SimulationResult) -> Rows:
    """Policy-level queueing figures as one table."""
    head = ["policy", "mean JCT (h)", "JCT floor (h)", "p95 JCT (h)", "max wait (h)", "Jain",
            "preemptions", "wasted accelerator-h", "quota violations"]  # fmt: skip
    rows = []
    for name, run in result.runs.items():
        q = run.queue
        if q is None:
            continue
        rows.append(
            [name, f"{q.mean_jct_h:.3f}", f"{q.jct_floor_h:.3f}", f"{q.p95_jct_h:.3f}",
             f"{q.max_wait_h:.2f}",
             f"{q.jain_fairness:.4f}", f"{q.preemptions:,}", f"{q.wasted_gpu_h:,.1f}",
             f"{q.quota_violations:,}"]
        )  # fmt: skip
    return rows, head

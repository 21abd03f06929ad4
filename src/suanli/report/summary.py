"""The summary of a simulation: a JSON-able dict and a Rich table."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from suanli.sim.run import SimulationResult


def summary_dict(result: SimulationResult) -> dict[str, Any]:
    """The `suanli simulate --json` object."""
    policies: dict[str, Any] = {}
    for name, run in result.runs.items():
        row: dict[str, Any] = {k: _round(v) for k, v in run.metrics.as_dict().items()}
        row["decisions_per_s"] = round(run.decisions_per_s, 1)
        gap = result.gap(name)
        row["gap_to_lower_bound"] = None if gap is None else round(gap, 5)
        row["fragmentation_by_site"] = {
            sid: round(float(v), 4)
            for sid, v in zip(
                result.scenario.site_ids, run.series.fragmentation_by_site, strict=True
            )
        }
        if run.queue is not None:
            row.update(run.queue.as_json())
        policies[name] = row
    return {
        "scenario": result.scenario.name,
        "jobs": len(result.jobs),
        "accelerators": result.scenario.accelerators,
        "window_h": result.window_h,
        "offered_load": round(result.offered_load, 4),
        "lower_bound_objective_yuan": None
        if result.bound is None
        else round(result.bound.value, 2),
        "policy_set": None if result.governance is None else result.governance.source,
        "policies": policies,
    }


def _round(v: float | int | dict[str, int] | None) -> float | int | dict[str, int] | None:
    return v if v is None or isinstance(v, int | dict) else round(float(v), 4)


def summary_table(result: SimulationResult) -> Table:
    """The policies side by side, with the gap to the lower bound."""
    t = Table(
        title=f"{result.scenario.name}: {len(result.jobs):,} jobs on "
        f"{result.scenario.accelerators:,} accelerators",
        caption=(
            f"lower bound on the objective: {result.bound.value:,.0f} yuan"
            if result.bound
            else f"lower bound {result.bound_skipped}"
            if result.bound_skipped
            else "lower bound not computed (--no-bound)"
        ),
    )
    cols = [
        ("policy", "left"),
        ("objective (yuan)", "right"),
        ("gap to bound", "right"),
        ("energy (MWh)", "right"),
        ("carbon (t)", "right"),
        ("mean wait (h)", "right"),
        ("p95 wait (h)", "right"),
        ("deadline miss", "right"),
        ("utilization", "right"),
        ("data moved (TB)", "right"),
        ("done/rejected", "right"),
        ("residency viol.", "right"),
        ("policy viol.", "right"),
        ("held/denied", "right"),
    ]
    for name, justify in cols:
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name, run in result.runs.items():
        m = run.metrics
        gap = result.gap(name)
        t.add_row(
            name,
            f"{m.objective_yuan:,.0f}",
            "-" if gap is None else f"{gap:.1%}",
            f"{m.energy_mwh:,.0f}",
            f"{m.carbon_t:,.0f}",
            f"{m.mean_wait_h:.2f}",
            f"{m.p95_wait_h:.2f}",
            f"{m.deadline_miss_rate:.1%}",
            f"{m.utilization:.1%}",
            f"{m.data_moved_tb:,.1f}",
            f"{m.jobs_completed:,}/{m.jobs_rejected:,}",
            str(m.residency_violations),
            "-" if m.policy_violations is None else str(m.policy_violations),
            f"{m.approvals_held:,}/{m.approvals_denied:,}",
        )
    return t


def queueing_table(result: SimulationResult) -> Table:
    """The queueing figures of every policy (JCT, its floor, waits, fairness, preemptions)."""
    from suanli.report.queueing import policy_rows

    rows, head = policy_rows(result)
    t = Table(
        title="queueing",
        caption="JCT floor: the mean JCT no policy can beat on this workload (docs/queueing.md)",
    )
    for i, name in enumerate(head):
        t.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*row)
    return t

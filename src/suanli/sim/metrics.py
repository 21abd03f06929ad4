"""Metrics of one run, computed from its trace alone (so they can be checked independently)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from suanli.core.cost import CostModel
from suanli.core.rules import residency_reason
from suanli.core.scheduler import Placement
from suanli.core.timeline import hourly_usage
from suanli.model import Scenario
from suanli.sim.engine import Trace

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PolicyMetrics:
    objective_yuan: float
    energy_mwh: float
    energy_cost_yuan: float
    carbon_t: float
    carbon_cost_yuan: float
    transfer_cost_yuan: float
    latency_cost_yuan: float
    penalty_yuan: float
    mean_wait_h: float
    p95_wait_h: float
    deadline_miss_rate: float
    utilization: float
    data_moved_tb: float
    jobs_completed: int
    jobs_rejected: int
    residency_violations: int
    #: placements a fresh engine of the run's policy set would not allow (None: no policy set)
    policy_violations: int | None = None
    #: the same, by rule id
    policy_violations_by_rule: dict[str, int] = field(default_factory=dict)
    #: jobs held for a regulator's approval, and of those how many were denied
    approvals_held: int = 0
    approvals_denied: int = 0

    def as_dict(self) -> dict[str, float | int | dict[str, int] | None]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SiteSeries:
    """Hourly series per site over the report window: busy accelerators and facility power."""

    hours: int
    busy: FloatArray  # (sites, hours) accelerators in use, hour average
    power_kw: FloatArray  # (sites, hours) facility kW, hour average
    carbon_t_by_site: FloatArray  # (sites,) tonnes emitted over the whole run
    #: (sites,) mean share of idle accelerator capacity that typical tasks cannot use
    fragmentation_by_site: FloatArray


def compute_metrics(
    trace: Trace,
    scenario: Scenario,
    cost: CostModel,
    window_h: float,
    violations: Mapping[str, int] | None = None,
    residency_rules: frozenset[str] = frozenset(),
) -> tuple[PolicyMetrics, SiteSeries]:
    """The figures of one run; ``window_h`` is the arrival window used for utilization.

    ``violations`` (rule id -> count) are the policy set's, when the run had one
    (`suanli.governance.violations`); residency violations are then those of its
    ``residency_rules`` (residency and cross-border rules), not of the interim rule (the policy
    may let some personal data leave).
    """
    ps = trace.placements
    rs = trace.rejections
    n_jobs = len(ps) + len(rs)
    energy = sum(p.cost.energy_kwh for p in ps)
    waits = np.array([p.start_h - p.job.arrival_h for p in ps]) if ps else np.zeros(1)
    with_deadline = [p for p in ps if p.job.deadline_h is not None]
    misses = sum(1 for p in with_deadline if cost.misses_deadline(p.job, p.end_h))
    rejected_deadline = sum(1 for r in rs if r.job.deadline_h is not None)
    denominator = len(with_deadline) + rejected_deadline
    residency = 0
    if violations is None:
        for p in ps:
            home = scenario.sites[p.job.data.site].jurisdiction
            if any(
                residency_reason(p.job, scenario.sites[s].jurisdiction, home)
                for s in p.option.sites
            ):
                residency += 1
    else:
        residency = sum(n for rule, n in violations.items() if rule in residency_rules)
    hours = max(1, math.ceil(window_h))
    n_sites = len(scenario.sites)
    if ps:
        # one row per site a placement uses: a split gang's parts each at their own site
        pieces: list[tuple[Placement, int, float, float, float]] = []
        for p in ps:
            if p.option.parts:
                pieces.extend(
                    (p, part.site_idx, part.accelerators, part.power_kw, c.carbon_kg)
                    for part, c in zip(p.option.parts, p.part_costs, strict=True)
                )
            else:
                pieces.append(
                    (p, p.option.site_idx, p.job.accelerators, p.option.power_kw, p.cost.carbon_kg)
                )
        starts = np.array([x[0].start_h for x in pieces])
        ends = np.array([x[0].end_h for x in pieces])
        rows = np.array([x[1] for x in pieces], dtype=np.int64)
        acc = np.array([x[2] for x in pieces])
        kw = np.array([x[3] for x in pieces])
        busy = hourly_usage(starts, ends, acc, rows, n_sites, hours)
        power = hourly_usage(starts, ends, kw, rows, n_sites, hours)
        carbon_by_site = (
            np.bincount(rows, weights=np.array([x[4] for x in pieces]), minlength=n_sites) / 1000.0
        )
    else:
        busy = power = np.zeros((n_sites, hours))
        carbon_by_site = np.zeros(n_sites)
    total_acc = scenario.accelerators
    utilization = float(busy.sum() / (total_acc * hours)) if total_acc else 0.0
    total = sum(p.cost.total_yuan for p in ps) + sum(r.cost.total_yuan for r in rs)
    metrics = PolicyMetrics(
        objective_yuan=total,
        energy_mwh=energy / 1000.0,
        energy_cost_yuan=sum(p.cost.energy_yuan for p in ps),
        carbon_t=sum(p.cost.carbon_kg for p in ps) / 1000.0,
        carbon_cost_yuan=sum(p.cost.carbon_yuan for p in ps),
        transfer_cost_yuan=sum(p.cost.transfer_yuan for p in ps),
        latency_cost_yuan=sum(p.cost.latency_yuan for p in ps),
        penalty_yuan=sum(p.cost.penalty_yuan for p in ps) + sum(r.cost.penalty_yuan for r in rs),
        mean_wait_h=float(waits.mean()),
        p95_wait_h=float(np.percentile(waits, 95)),
        deadline_miss_rate=(misses + rejected_deadline) / denominator if denominator else 0.0,
        utilization=utilization,
        data_moved_tb=sum(p.cost.transfer_gb for p in ps) / 1000.0,
        jobs_completed=len(ps),
        jobs_rejected=len(rs),
        residency_violations=residency,
        policy_violations=None if violations is None else sum(violations.values()),
        policy_violations_by_rule=dict(violations or {}),
        approvals_held=sum(1 for a in trace.approvals if a[1] == "held"),
        approvals_denied=sum(1 for a in trace.approvals if a[1] == "denied"),
    )
    assert n_jobs == metrics.jobs_completed + metrics.jobs_rejected
    frag = np.zeros(n_sites)
    idle = np.zeros(n_sites)
    for _, i, f, d in trace.fragmentation:
        frag[i] += f
        idle[i] += d
    frag_ratio = np.divide(frag, idle, out=np.zeros(n_sites), where=idle > 0)
    return metrics, SiteSeries(hours, busy, power, carbon_by_site, frag_ratio)

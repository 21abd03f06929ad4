"""`simulate`: replay a workload on a scenario under several policies and bound the optimum."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from suanli.core.bound import BoundResult, lower_bound
from suanli.core.clock import ManualClock
from suanli.core.cost import CostModel
from suanli.core.options import Feasibility, FeasibilityCheck
from suanli.core.policies import make_policy
from suanli.core.scheduler import Scheduler
from suanli.errors import InputError
from suanli.model import Job, Scenario
from suanli.sim.engine import Trace, run
from suanli.sim.metrics import PolicyMetrics, SiteSeries, compute_metrics

#: progress callback: (task description, completed, total)
Progress = Callable[[str, int, int], None]

DEFAULT_POLICIES = ("nearest", "cheapest", "greenest", "suanli")


@dataclass(slots=True)
class PolicyRun:
    name: str
    trace: Trace
    metrics: PolicyMetrics
    series: SiteSeries
    wall_s: float

    @property
    def decisions_per_s(self) -> float:
        n = len(self.trace.placements) + len(self.trace.rejections)
        return n / self.wall_s if self.wall_s > 0 else math.inf


@dataclass(slots=True)
class SimulationResult:
    scenario: Scenario
    jobs: Sequence[Job]
    window_h: float
    runs: dict[str, PolicyRun]
    bound: BoundResult | None
    cost: CostModel

    def gap(self, policy: str) -> float | None:
        """Relative distance of a policy's objective above the lower bound."""
        if self.bound is None or self.bound.value <= 0:
            return None
        return self.runs[policy].metrics.objective_yuan / self.bound.value - 1.0


def horizon_for(scenario: Scenario, jobs: Sequence[Job]) -> int:
    """Hours of price and carbon the run may touch: past every deadline and a slow run time."""
    slowest = min(a.throughput(False) for a in scenario.catalog.values())
    slowest = min(slowest, min(a.throughput(True) for a in scenario.catalog.values()))
    latest = 0.0
    for j in jobs:
        end = max(j.deadline_h or 0.0, j.arrival_h) + j.duration_h / slowest
        latest = max(latest, end)
    return max(scenario.hours, math.ceil(latest) + 48)


def simulate(
    scenario: Scenario,
    jobs: Sequence[Job],
    policies: Sequence[str] = DEFAULT_POLICIES,
    *,
    bound: bool = True,
    window_h: float | None = None,
    progress: Progress | None = None,
) -> SimulationResult:
    """Run ``jobs`` under each policy on ``scenario``; compute the lower bound if asked."""
    names = list(dict.fromkeys(p.lower() for p in policies))
    for name in names:
        make_policy(name)  # fail on an unknown name before any work
    if not jobs:
        raise InputError("workload", "has no jobs")
    ids = [j.id for j in jobs]
    if len(set(ids)) != len(ids):
        raise InputError("workload", "job ids are not unique")
    jobs = sorted(jobs, key=lambda j: (j.arrival_h, j.id))
    window = window_h if window_h is not None else max(1.0, math.ceil(jobs[-1].arrival_h))
    cost = CostModel(scenario, horizon_for(scenario, jobs))
    feas: dict[str, Feasibility] = {}
    check = FeasibilityCheck(cost)
    for n, job in enumerate(jobs):
        feas[job.id] = check(job)
        if progress and n % 2000 == 0:
            progress("feasibility", n, len(jobs))
    if progress:
        progress("feasibility", len(jobs), len(jobs))
    runs: dict[str, PolicyRun] = {}
    for name in names:
        clock = ManualClock(0.0)
        scheduler = Scheduler(scenario, make_policy(name), clock, cost, feasibility_cache=feas)
        task = f"policy {name}"
        cb = (lambda done, _t=task: progress(_t, done, len(jobs))) if progress else None
        t0 = time.perf_counter()
        trace = run(scheduler, clock, jobs, on_progress=cb)
        wall = time.perf_counter() - t0
        if progress:
            progress(task, len(jobs), len(jobs))
        metrics, series = compute_metrics(trace, scenario, cost, window)
        runs[name] = PolicyRun(name, trace, metrics, series, wall)
    result_bound = None
    if bound:
        if progress:
            progress("lower bound", 0, 1)
        target = min(r.metrics.objective_yuan for r in runs.values()) if runs else None
        result_bound = lower_bound(jobs, [feas[j.id].options for j in jobs], cost, target=target)
        if progress:
            progress("lower bound", 1, 1)
    return SimulationResult(scenario, jobs, window, runs, result_bound, cost)

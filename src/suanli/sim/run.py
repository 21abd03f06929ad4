"""`simulate`: replay a workload on a scenario under several policies and bound the optimum.

With a policy set (`GovernanceOptions`), every policy run gets its own `GovernanceEngine`
(its export counters and approvals are that run's state) and a `SimulatedRegulator` that
decides held jobs after the approval delay. Feasibility is computed once with a base engine
(`FeasibilityCheck.prepare`) and shared; the few sites whose verdicts depend on a run's state
(cross-border export volumes, approvals) are resolved by each run's engine at intake. After
each run its placements are re-checked against a fresh engine
(`suanli.governance.violations.policy_violations`).
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from suanli.core.bound import BoundResult, LowerBound
from suanli.core.clock import ManualClock
from suanli.core.cost import CostModel
from suanli.core.options import Feasibility, FeasibilityCheck
from suanli.core.policies import make_policy
from suanli.core.policies.queueing import default_config
from suanli.core.scheduler import PendingApproval, Preemption, Scheduler
from suanli.errors import InputError
from suanli.governance.approvals import SimulatedRegulator
from suanli.governance.engine import GovernanceEngine
from suanli.governance.schema import CrossBorderPersonalInfo, PolicySet, Residency, load_policy
from suanli.governance.violations import policy_violations
from suanli.model import Job, Scenario
from suanli.sim.engine import Regulator, Trace, run
from suanli.sim.metrics import PolicyMetrics, SiteSeries, compute_metrics
from suanli.sim.queue_metrics import QueueMetrics, count_quota_violations, queue_metrics

#: progress callback: (task description, completed, total)
Progress = Callable[[str, int, int], None]

DEFAULT_POLICIES = ("nearest", "cheapest", "greenest", "suanli")


#: hours a simulated regulator takes to decide an approval request, unless told otherwise
DEFAULT_APPROVAL_DELAY_H = 4.0


@dataclass(frozen=True, slots=True)
class GovernanceOptions:
    """The policy set a simulation runs under, and its simulated regulator."""

    policy: PolicySet
    #: the file's name (for errors) and the SHA-256 of its bytes (for the ledger)
    source: str = "policy"
    sha256: str = ""
    approval_delay_h: float = DEFAULT_APPROVAL_DELAY_H
    #: rules whose approval requests the simulated regulator denies
    deny_rules: frozenset[str] = frozenset()

    @classmethod
    def from_file(
        cls, path: Path, approval_delay_h: float = DEFAULT_APPROVAL_DELAY_H
    ) -> GovernanceOptions:
        if approval_delay_h < 0:
            raise InputError("--approval-delay-h", f"must be >= 0, got {approval_delay_h:g}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        return cls(load_policy(path), path.name, digest, approval_delay_h)

    def engine(
        self, scenario: Scenario, static_from: GovernanceEngine | None = None
    ) -> GovernanceEngine:
        """A fresh engine; ``static_from`` (an engine of the same scenario) shares what
        depends on the policy and scenario only."""
        return GovernanceEngine(self.policy, scenario, source=self.source, static_from=static_from)


@dataclass(slots=True)
class PolicyRun:
    name: str
    trace: Trace
    metrics: PolicyMetrics
    series: SiteSeries
    wall_s: float
    #: the run's governance engine (None: no policy set); its book holds the approvals
    engine: GovernanceEngine | None = None
    #: the queueing figures (JCT, waits, fairness, preemptions, quota violations)
    queue: QueueMetrics | None = None

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
    governance: GovernanceOptions | None = None
    #: why the bound was asked for and not computed (None: it was, or was not asked for)
    bound_skipped: str | None = None

    @property
    def offered_load(self) -> float:
        """Accelerator-hours the jobs ask (at the reference accelerator) over the network's
        accelerator-hours in the window: for a generated workload, its ``load`` as drawn (a
        trace's ``load`` is taken over its arrivals' span, which the window may exceed)."""
        asked = sum(j.accelerators * j.duration_h for j in self.jobs)
        return asked / (self.scenario.accelerators * self.window_h)

    def gap(self, policy: str) -> float | None:
        """Relative distance of a policy's objective above the lower bound."""
        if self.bound is None or self.bound.value <= 0:
            return None
        return self.runs[policy].metrics.objective_yuan / self.bound.value - 1.0


def horizon_for(scenario: Scenario, jobs: Sequence[Job]) -> int:
    """Hours of price and carbon the run may touch: past every deadline and a slow run time."""
    slowest = min(a.throughput(False) for a in scenario.catalog.values())
    slowest = min(slowest, min(a.throughput(True) for a in scenario.catalog.values()))
    # a gang split across sites runs longer by its hub's slowdown
    stretch = max((g.slowdown for g in scenario.cross_site.values()), default=1.0)
    latest = 0.0
    for j in jobs:
        run_h = j.duration_h / slowest * (stretch if j.span == "hub" else 1.0)
        end = max(j.deadline_h or 0.0, j.arrival_h) + run_h
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
    governance: GovernanceOptions | None = None,
    workers: int = 1,
) -> SimulationResult:
    """Run ``jobs`` under each policy on ``scenario``; compute the lower bound if asked.

    With ``governance``, each run is governed by its own engine and checked afterwards.
    ``workers`` > 1 runs the policies in up to that many worker processes at once
    (`suanli.sim.parallel`); the result is the same as with 1, in this process."""
    if workers < 1:
        raise InputError("--workers", f"must be >= 1, got {workers}")
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
    # feasibility as the runs start (for the bound), and the part of it no run's state can
    # change (shared by the runs: each resolves the rest with its own engine at intake)
    feas: dict[str, Feasibility] = {}
    shared: dict[str, Feasibility] = {}
    base = governance.engine(scenario) if governance is not None else None
    # the simulator offers gangs split across the sites of a hub (jobs with span "hub" in a
    # hub the scenario allows); the service never does
    check = (
        FeasibilityCheck(cost, cross_site=True)
        if base is None
        else FeasibilityCheck(cost, base, cross_site=True)
    )
    for n, job in enumerate(jobs):
        shared[job.id] = prepared = check.prepare(job)
        feas[job.id] = check.resolve(prepared, job)
        if progress and n % 2000 == 0:
            progress("feasibility", n, len(jobs))
    if progress:
        progress("feasibility", len(jobs), len(jobs))
    del check  # its caches are not needed any more (memory)
    # worker processes are forked (they inherit the inputs): without fork, one process
    if workers > 1 and len(names) > 1 and "fork" in multiprocessing.get_all_start_methods():
        from suanli.sim.parallel import run_in_workers

        inputs = Inputs(scenario, jobs, cost, shared, window, governance, base)
        runs = run_in_workers(workers, names, inputs, progress=progress)
        del inputs
    else:
        runs = {}
        for name in names:
            # one call per policy: its scheduler and policy state are freed before the next
            runs[name] = _run_policy(
                name, scenario, jobs, cost, shared, window, progress, governance, base
            )
    del shared, base  # the bound needs the runs' starting feasibility only
    result_bound = None
    # the bound's capacity rows are per pool: a split gang's rows on several pools at once
    # are not modelled, so with split options there is no bound (docs/queueing.md)
    split = any(o.parts for f in feas.values() for o in f.options)
    skipped = (
        "not computed: the bound does not model gangs split across sites" if bound and split
        else None
    )  # fmt: skip
    if bound and not split:
        if progress:
            progress("lower bound", 0, 1)
        result_bound = bound_problem(jobs, feas, cost).solve(bound_target(runs))
        if progress:
            progress("lower bound", 1, 1)
    return SimulationResult(scenario, jobs, window, runs, result_bound, cost, governance, skipped)


@dataclass(frozen=True, slots=True)
class Inputs:
    """What every policy run of one simulation reads (computed once)."""

    scenario: Scenario
    jobs: Sequence[Job]
    cost: CostModel
    #: the feasibility no run's state can change (each run resolves the rest at intake)
    shared: dict[str, Feasibility]
    window: float
    governance: GovernanceOptions | None
    base: GovernanceEngine | None

    def run_policy(self, name: str, progress: Progress | None) -> PolicyRun:
        return _run_policy(
            name, self.scenario, self.jobs, self.cost, self.shared, self.window, progress,
            self.governance, self.base,
        )  # fmt: skip


def bound_target(runs: dict[str, PolicyRun]) -> float | None:
    """The subgradient's target: the best objective of the runs."""
    return min(r.metrics.objective_yuan for r in runs.values()) if runs else None


def bound_problem(jobs: Sequence[Job], feas: dict[str, Feasibility], cost: CostModel) -> LowerBound:
    """The lower bound's problem over the jobs' options as the runs start (`solve` it)."""
    return LowerBound(jobs, [feas[j.id].options for j in jobs], cost)


def _run_policy(
    name: str,
    scenario: Scenario,
    jobs: Sequence[Job],
    cost: CostModel,
    shared: dict[str, Feasibility],
    window: float,
    progress: Progress | None,
    governance: GovernanceOptions | None,
    base: GovernanceEngine | None,
) -> PolicyRun:
    """One policy's run: its own clock, scheduler, engine and regulator; its placements then
    re-checked against a fresh engine of the policy set."""
    clock = ManualClock(0.0)
    engine = governance.engine(scenario, base) if governance is not None else None
    scheduler = Scheduler(
        scenario, make_policy(name), clock, cost, feasibility_cache=dict(shared),
        cross_site=True, **({} if engine is None else {"rules": engine}),
    )  # fmt: skip
    task = f"policy {name}"
    cb = (lambda done, _t=task: progress(_t, done, len(jobs))) if progress else None
    regulator = _regulator(engine, governance) if engine and governance else None
    t0 = time.perf_counter()
    trace = run(scheduler, clock, jobs, on_progress=cb, regulator=regulator)
    wall = time.perf_counter() - t0
    if progress:
        progress(task, len(jobs), len(jobs))
    violations = None
    if engine is not None and governance is not None:
        violations = policy_violations(
            trace.placements, governance.policy, scenario, engine.approvals
        )
    metrics, series = compute_metrics(
        trace, scenario, cost, window, violations, _residency_rules(governance)
    )
    queue = _queue_metrics(scenario, trace, getattr(scheduler, "preemptions", []))
    return PolicyRun(name, trace, metrics, series, wall, engine, queue)


def _queue_metrics(scenario: Scenario, trace: Trace, stopped: list[Preemption]) -> QueueMetrics:
    """The run's queueing figures, its quota violations checked on the scenario's queues."""
    config = scenario.queueing or default_config(scenario)
    weights = {t: q.weight for q in config.queues.values() for t in q.tenants}
    violations = count_quota_violations(trace.placements, config, stopped)
    return queue_metrics(trace.placements, weights, stopped, violations)


def _regulator(engine: GovernanceEngine, governance: GovernanceOptions) -> Regulator:
    """The simulated regulator of one run: requests go into the run engine's book; a held job
    is decided when its last request is (approved only if every request is)."""
    sim = SimulatedRegulator(governance.approval_delay_h, deny=governance.deny_rules)

    def decide(held: PendingApproval, now: float) -> tuple[float, bool, str]:
        decisions = [sim.decide(r) for r in engine.request_approvals(held.job.id, now)]
        if not decisions:
            return now, False, "no approval request could be made"
        approve = all(d.approve for d in decisions)
        note = "; ".join(d.evidence for d in decisions if d.approve == approve)
        return max(d.time_h for d in decisions), approve, note

    return decide


def _residency_rules(governance: GovernanceOptions | None) -> frozenset[str]:
    if governance is None:
        return frozenset()
    kinds = (Residency, CrossBorderPersonalInfo)
    return frozenset(r.id for r in governance.policy.spec.rules if isinstance(r, kinds))

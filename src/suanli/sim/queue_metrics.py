"""Queueing figures of one run, from its trace alone (issue 4).

* JCT: completion minus arrival of each finished job (its last start's end); wait: first
  start minus arrival; both in hours.
* JCT floor: the mean over the same jobs of the earliest each could finish under any order
  and placement, its best option's data-ready time plus its run time there, minus arrival
  (capacity taken as unlimited): no policy's mean JCT on the workload can be lower.
* Jain fairness: in windows of ``window_h``, each tenant *demands* its present jobs'
  accelerators (arrived, not finished) and *receives* its running jobs' accelerators; its
  entitlement is the weighted max-min (water-filling) split of what was delivered, capped at
  its demand. Jain's index of received/entitled over the tenants with an entitlement, averaged
  over windows weighted by what was delivered.
* preemptions and wasted_gpu_h come from the scheduler's `Preemption` records; a run stopped
  in the instant it started (a borrower started and reclaimed in one cycle, which the
  service never dispatches) is neither a start nor a preemption.
* quota_violations (`count_quota_violations`): the run's starts and ends replayed on a fresh
  `QuotaBook`, in time order (ends first at one instant, then the starts of that instant in
  the order they were made); a start that does not fit its
  queue's quota plus what the cohort lends is a violation. It checks every policy the same
  way, whatever the policy itself counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from suanli.core.capacity import job_milli, to_milli
from suanli.core.queueing.fairshare import jain_index
from suanli.core.queueing.quota import QueueingConfig, QuotaBook
from suanli.core.scheduler import Placement, Preemption
from suanli.sim.engine import SAME_INSTANT_H


@dataclass(frozen=True, slots=True)
class TenantFigures:
    jobs: int
    mean_jct_h: float
    max_wait_h: float
    gpu_h: float


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    mean_jct_h: float
    p95_jct_h: float
    max_wait_h: float
    jain_fairness: float
    preemptions: int
    wasted_gpu_h: float
    quota_violations: int
    #: the mean JCT no policy can beat on this workload (see the module docstring)
    jct_floor_h: float = 0.0
    per_tenant: dict[str, TenantFigures] = field(default_factory=dict)
    #: (window start h, tenant, share of delivered accelerator-hours) for plots
    share_series: list[tuple[float, str, float]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "mean_jct_h": round(self.mean_jct_h, 4),
            "p95_jct_h": round(self.p95_jct_h, 4),
            "max_wait_h": round(self.max_wait_h, 4),
            "jain_fairness": round(float(self.jain_fairness), 4),
            "preemptions": self.preemptions,
            "wasted_gpu_h": round(self.wasted_gpu_h, 3),
            "quota_violations": self.quota_violations,
            "jct_floor_h": round(self.jct_floor_h, 4),
            "per_tenant": {
                t: {
                    "jobs": f.jobs,
                    "mean_jct_h": round(f.mean_jct_h, 4),
                    "max_wait_h": round(f.max_wait_h, 4),
                    "gpu_h": round(f.gpu_h, 3),
                }
                for t, f in sorted(self.per_tenant.items())
            },
        }


def water_fill(
    demand: Mapping[str, float], weights: Mapping[str, float], total: float
) -> dict[str, float]:
    """Weighted max-min fair split of ``total`` capped at each demand."""
    left = {t: d for t, d in demand.items() if d > 0}
    out = {t: 0.0 for t in demand}
    while left and total > 1e-12:
        w = sum(weights.get(t, 1.0) for t in left)
        per = total / w
        capped = {t for t, d in left.items() if d - out[t] <= per * weights.get(t, 1.0) + 1e-12}
        if not capped:
            for t in left:
                out[t] += per * weights.get(t, 1.0)
            break
        for t in capped:
            total -= left[t] - out[t]
            out[t] = left[t]
            del left[t]
    return out


def queue_metrics(
    placements: Sequence[Placement],
    weights: Mapping[str, float],
    preemptions: Iterable[Preemption] = (),
    quota_violations: int = 0,
    window_h: float = 6.0,
) -> QueueMetrics:
    """The queueing figures of a run (see the module docstring)."""
    # a run stopped in the instant it started (a borrower started and reclaimed in one
    # cycle) never ran: the service never dispatches it (`SchedulingLoop._preemptions`), so
    # it is neither a start nor a preemption here
    preemptions = list(preemptions)
    stopped = [p for p in preemptions if p.time_h - p.placement.start_h > SAME_INSTANT_H]
    runs: dict[str, list[tuple[float, float, Placement]]] = defaultdict(list)
    for p, cut in zip(placements, stop_times(placements, preemptions), strict=True):
        end = p.end_h if cut is None else cut
        if cut is None or end - p.start_h > SAME_INSTANT_H:
            runs[p.job.id].append((p.start_h, end, p))
    jct: dict[str, float] = {}
    wait: dict[str, float] = {}
    tenant_of: dict[str, str] = {}
    for jid, rs in runs.items():
        rs.sort(key=lambda r: r[0])
        job = rs[0][2].job
        tenant_of[jid] = job.tenant
        wait[jid] = rs[0][0] - job.arrival_h
        jct[jid] = rs[-1][1] - job.arrival_h
    values = np.array(list(jct.values())) if jct else np.zeros(1)
    floors = [jct_floor(rs[0][2]) for rs in runs.values()]
    per_tenant: dict[str, TenantFigures] = {}
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for jid, t in tenant_of.items():
        by_tenant[t].append(jid)
    for t, ids in by_tenant.items():
        per_tenant[t] = TenantFigures(
            len(ids),
            float(np.mean([jct[i] for i in ids])),
            max(wait[i] for i in ids),
            sum((e - s) * p.job.accelerators for i in ids for s, e, p in runs[i]),
        )
    jain, series = _fairness(runs, weights, window_h)
    return QueueMetrics(
        mean_jct_h=float(values.mean()),
        p95_jct_h=float(np.percentile(values, 95)),
        max_wait_h=max(wait.values(), default=0.0),
        jain_fairness=jain,
        preemptions=len(stopped),
        wasted_gpu_h=sum(p.wasted_gpu_h for p in stopped),
        quota_violations=quota_violations,
        jct_floor_h=float(np.mean(floors)) if floors else 0.0,
        per_tenant=per_tenant,
        share_series=series,
    )


def jct_floor(placement: Placement) -> float:
    """The earliest the placed job could have finished, from its arrival (hours): over the
    options it had, the data's arrival there plus the run time there."""
    options = placement.explanation.options or (placement.option,)
    best = min(o.ready_h + o.runtime_h for o in options)
    return best - placement.job.arrival_h


def _fairness(
    runs: Mapping[str, list[tuple[float, float, Placement]]],
    weights: Mapping[str, float],
    window_h: float,
) -> tuple[float, list[tuple[float, str, float]]]:
    if not runs:
        return 1.0, []
    horizon = max(r[-1][1] for r in runs.values())
    n = max(1, int(np.ceil(horizon / window_h)))
    present: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    running: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    edges = np.arange(n) * window_h
    for rs in runs.values():
        job = rs[0][2].job
        a = job.accelerators
        present[job.tenant].append((job.arrival_h, rs[-1][1], a))
        running[job.tenant].extend((s, e, a) for s, e, _ in rs)
    demand = {t: _per_window(iv, n, window_h) for t, iv in present.items()}
    got = {t: _per_window(running[t], n, window_h) for t in present}
    tenants = sorted(demand)
    total_w = 0.0
    acc = 0.0
    series: list[tuple[float, str, float]] = []
    for k in range(n):
        delivered = sum(got[t][k] for t in tenants)
        if delivered <= 0:
            continue
        ent = water_fill({t: demand[t][k] for t in tenants}, weights, delivered)
        xs = [got[t][k] / ent[t] for t in tenants if ent[t] > 1e-9]
        acc += jain_index(xs) * delivered
        total_w += delivered
        series.extend((float(edges[k]), t, got[t][k] / delivered) for t in tenants)
    return (acc / total_w if total_w else 1.0), series


def _per_window(intervals: list[tuple[float, float, float]], n: int, width: float) -> np.ndarray:
    """For each window [k width, (k + 1) width), k < n: the sum over the (start, end, weight)
    intervals of weight times their overlap with it. As G(x) = sum_j a_j (max(0, x - s_j) -
    max(0, x - e_j)), the weighted time before x, is exact at the window edges, each window's
    sum is G's difference across it: prefix sums over sorted starts and ends, no loop."""
    if not intervals:
        return np.zeros(n)
    start, end, weight = (np.array(v, dtype=np.float64) for v in zip(*intervals, strict=True))
    x = np.arange(n + 1) * width
    out: np.ndarray = np.diff(_ramp(x, start, weight) - _ramp(x, end, weight))
    return out


def _ramp(x: np.ndarray, t: np.ndarray, a: np.ndarray) -> np.ndarray:
    """sum_j a_j max(0, x - t_j) at every point of ``x``."""
    order = np.argsort(t, kind="stable")
    t, a = t[order], a[order]
    ca = np.concatenate(([0.0], np.cumsum(a)))
    cat = np.concatenate(([0.0], np.cumsum(a * t)))
    i = np.searchsorted(t, x, side="left")  # how many t_j < x
    out: np.ndarray = x * ca[i] - cat[i]
    return out


def stop_times(
    placements: Sequence[Placement], preemptions: Iterable[Preemption]
) -> list[float | None]:
    """When each placement's run was stopped by a preemption (None: it ran to its end), in the
    order of ``placements``.

    A run is known by its job and start, but one job may have two runs with the same start: one
    started, stopped in that instant (a borrower reclaimed in the cycle that started it) and
    started again. Such runs are placed in order and an earlier one is stopped no later than a
    later one, so the k-th run of a (job, start) is matched with the k-th earliest preemption
    of it.
    """
    cuts: dict[tuple[str, float], list[float]] = defaultdict(list)
    for r in preemptions:
        cuts[(r.placement.job.id, r.placement.start_h)].append(r.time_h)
    for times in cuts.values():
        times.sort(reverse=True)  # popped from the end: earliest first
    out: list[float | None] = []
    for p in placements:
        left = cuts.get((p.job.id, p.start_h), [])
        out.append(left.pop() if left else None)
    return out


def count_quota_violations(
    placements: Sequence[Placement],
    config: QueueingConfig,
    preemptions: Iterable[Preemption] = (),
) -> int:
    """Starts that broke their queue's quota (see the module docstring)."""
    queue_of = {t: q.name for q in config.queues.values() for t in q.tenants}
    first = next(iter(config.queues))
    events: list[tuple[float, int, int, str, str, int, bool]] = []
    cuts = stop_times(placements, preemptions)
    for k, p in enumerate(placements):
        queue = queue_of.get(p.job.tenant, first)
        milli = job_milli(p.job)
        cut = cuts[k]
        end = p.end_h if cut is None else cut
        # the engine takes events within SAME_INSTANT_H as one instant, ends first; starts of
        # one instant in the order they were made (placement order); a run stopped in the
        # instant it started is checked at its start and holds nothing
        held = end - p.start_h > SAME_INSTANT_H
        shares: dict[str, int] = {}
        for part in p.option.parts:  # a split gang counts each part against its flavor
            f = config.flavor(p.option.accelerator, part.site)
            shares[f] = shares.get(f, 0) + to_milli(part.accelerators)
        if not shares:
            shares[config.flavor(p.option.accelerator, p.option.site)] = milli
        for flavor, m in shares.items():
            events.append((p.start_h, 1, k, queue, flavor, m, held))
            if held:
                events.append((end - SAME_INSTANT_H, 0, k, queue, flavor, m, True))
    events.sort()
    book = QuotaBook(config)
    broke: set[int] = set()  # a split gang's start breaks its quota once, on any share
    for _t, kind, k, queue, flavor, milli, held in events:
        if kind == 0:
            book.release(queue, flavor, milli)
            continue
        if not book.fits(queue, flavor, milli):
            broke.add(k)
        if held:
            book.admit(queue, flavor, milli)
    return len(broke)

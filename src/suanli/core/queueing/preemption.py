"""Who may be preempted, and which victims waste least work.

Rules (each a named function; tests/queueing/test_rules.py checks each by name):

* `rule_within_queue_lower_priority` - Kueue ``withinClusterQueue: LowerPriority``: a job may
  evict jobs of its own queue with a strictly lower priority.
* `rule_reclaim_within_cohort` - Kueue ``reclaimWithinCohort: Any``: a queue that would stay
  within its nominal quota may evict jobs of other queues in its cohort that are borrowing.
* `rule_least_waste_first` - victims are taken in order of the work they would lose (the
  accelerator-hours since their last checkpoint), then lower priority, then latest start.
* `rule_one_node_least_waste` - a request that runs on one node takes its victims from one
  node: the node where the least-waste victims that make room there waste least in all (room
  freed across many nodes would not hold a job that needs one node's GPUs together).
* `rule_reclaim_backoff` - a job reclaimed for the ``n``-th time may restart only within its
  queue's nominal quota for ``RECLAIM_BACKOFF_BASE_H * 2**(n-1)`` hours, at most
  ``RECLAIM_BACKOFF_MAX_H`` (Kueue's requeue backoff for evicted workloads): restarted at once
  as a borrower, it is the borrower that has lost least since its start, so the next reclaim
  on its pool takes it again (docs/queueing.md, "Reclaim backoff").

`select_victims` tries the candidates in that order on the quota book, removing them one by
one until the request fits, then undoes every trial change; it returns the victims or None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from suanli.core.queueing.quota import QuotaBook


class Outcome(IntEnum):
    """How a request can be admitted, worst first."""

    NO_FIT = 0  #: not even with preemption
    PREEMPT = 1  #: fits after evicting victims
    FIT = 2  #: fits now


@dataclass(frozen=True, slots=True)
class Running:
    """A running job as preemption sees it."""

    job_id: str
    queue: str
    flavor: str
    milli: int
    priority: int
    start_h: float
    #: hours between checkpoints (None: none declared: all work since start is lost)
    checkpoint_h: float | None = None


@dataclass(frozen=True, slots=True)
class Request:
    queue: str
    flavor: str
    milli: int
    priority: int


def wasted_h(r: Running, now: float) -> float:
    """Hours of work ``r`` would lose if stopped now: since its last checkpoint."""
    ran = max(0.0, now - r.start_h)
    if r.checkpoint_h is None or r.checkpoint_h <= 0:
        return ran
    return ran - math.floor(ran / r.checkpoint_h + 1e-12) * r.checkpoint_h


def rule_within_queue_lower_priority(req: Request, r: Running) -> bool:
    """Kueue preemption.withinClusterQueue = LowerPriority."""
    return r.queue == req.queue and r.priority < req.priority


def rule_reclaim_within_cohort(req: Request, r: Running, book: QuotaBook) -> bool:
    """Kueue preemption.reclaimWithinCohort = Any: the requester stays within its nominal
    quota, the victim's queue (in the same cohort) is borrowing this flavor."""
    cfg = book.config
    mine, theirs = cfg.queues[req.queue], cfg.queues[r.queue]
    if r.queue == req.queue or mine.cohort is None or theirs.cohort is None:
        return False
    if cfg.root(mine.cohort) != cfg.root(theirs.cohort) or r.flavor != req.flavor:
        return False
    nominal = mine.quotas.get(req.flavor)
    within = nominal is not None and book.used(req.queue, req.flavor) + req.milli <= (
        nominal.nominal * 1000
    )
    return within and book.borrowed(r.queue, r.flavor) > 0


#: the hold after a job's first reclaim (hours): Kueue's default ``backoffBaseSeconds`` (60 s)
#: for requeuing an evicted workload; also two of `QueueingPolicy`'s 30 s backfill passes
RECLAIM_BACKOFF_BASE_H = 60.0 / 3600.0
#: the longest hold (hours): Kueue's default ``backoffMaxSeconds`` (3,600 s)
RECLAIM_BACKOFF_MAX_H = 1.0


def rule_reclaim_backoff(reclaims: int) -> float:
    """Hours after its ``reclaims``-th reclaim during which a job may restart only within its
    queue's nominal quota (not as a borrower): doubling from `RECLAIM_BACKOFF_BASE_H`, capped
    at `RECLAIM_BACKOFF_MAX_H`; 0 for a job never reclaimed.

    A reclaimed job that restarts at once as a borrower has, of all borrowers, lost least
    since its start: the next reclaim on its pool takes it again, and each restart loses its
    work and moves its data again. Within its nominal quota it cannot be reclaimed, so it may
    start there at once; the hold grows with each reclaim, so a job that keeps being reclaimed
    tries less often.
    """
    if reclaims <= 0:
        return 0.0
    return min(RECLAIM_BACKOFF_MAX_H, RECLAIM_BACKOFF_BASE_H * 2.0 ** min(reclaims - 1, 60))


def rule_least_waste_first(r: Running, now: float) -> tuple[float, int, float]:
    """Order key (smaller first): wasted accelerator-hours, priority, latest start first."""
    return (wasted_h(r, now) * r.milli / 1000, r.priority, -r.start_h)


def candidates(req: Request, running: Iterable[Running], book: QuotaBook) -> list[Running]:
    """Every running job a rule allows ``req`` to evict."""
    return [
        r
        for r in running
        if r.flavor == req.flavor
        and (rule_within_queue_lower_priority(req, r) or rule_reclaim_within_cohort(req, r, book))
    ]


def select_victims(
    req: Request, running: Iterable[Running], book: QuotaBook, now: float
) -> tuple[Outcome, list[Running]]:
    """The fewest-waste victims that make ``req`` fit its quota (trial on ``book``, undone)."""
    if book.fits(req.queue, req.flavor, req.milli):
        return Outcome.FIT, []
    return select_from(req, candidates(req, running, book), book, now)


def select_from(
    req: Request, allowed: Iterable[Running], book: QuotaBook, now: float
) -> tuple[Outcome, list[Running]]:
    """`select_victims` over candidates already known to be allowed (``candidates``)."""
    if book.fits(req.queue, req.flavor, req.milli):
        return Outcome.FIT, []
    chosen: list[Running] = []
    try:
        for r in sorted(allowed, key=lambda r: rule_least_waste_first(r, now)):
            book.release(r.queue, r.flavor, r.milli)
            chosen.append(r)
            if book.fits(req.queue, req.flavor, req.milli):
                return Outcome.PREEMPT, chosen
        return Outcome.NO_FIT, []
    finally:
        for r in chosen:
            book.admit(r.queue, r.flavor, r.milli)


def rule_one_node_least_waste(
    free: npt.NDArray[np.int64],
    num_gpu: int,
    gpu_milli: int,
    holdings: Mapping[str, Sequence[tuple[int, Sequence[int], int]]],
    candidates: Sequence[Running],
    now: float,
) -> tuple[int, list[Running]] | None:
    """The node, and its victims, where a task of ``num_gpu`` GPUs of ``gpu_milli`` each fits
    at the least wasted work (ties: fewer victims, lower node); None: no node can make room.

    ``free[n, i]`` is the free milli of GPU i on node n; ``holdings[job]`` lists a running
    job's (node, GPU ids, milli per GPU). On each node, victims are added in
    `rule_least_waste_first` order until the task fits there.
    """
    order = sorted(candidates, key=lambda r: rule_least_waste_first(r, now))
    on_node: dict[int, list[Running]] = {}
    for r in order:
        for node in dict.fromkeys(n for n, _, _ in holdings[r.job_id]):
            on_node.setdefault(node, []).append(r)
    best: tuple[float, int, int, list[Running]] | None = None
    for node, victims in sorted(on_node.items()):
        row = free[node].copy()
        chosen: list[Running] = []
        waste = 0.0
        for r in victims:
            if int((row >= gpu_milli).sum()) >= num_gpu:
                break
            chosen.append(r)
            waste += rule_least_waste_first(r, now)[0]
            for n, ids, milli in holdings[r.job_id]:
                if n == node:
                    row[list(ids)] += milli
        if int((row >= gpu_milli).sum()) < num_gpu:
            continue
        key = (waste, len(chosen), node)
        if best is None or key < best[:3]:
            best = (waste, len(chosen), node, chosen)
    return None if best is None else (best[2], best[3])

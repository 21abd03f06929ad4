"""Suanli's multi-tenant queueing policy.

Order (each cycle), three rules, each with its reason:

1. **Overdue first** (`rule_overdue_first`): a job that has waited ``overdue_h`` goes before
   every other job, oldest first. This is the guarantee that no job waits forever.
2. **Lowest weighted dominant share first** across queues (DRF on decayed plus current usage,
   `suanli.core.queueing.fairshare`): the queue furthest below its weighted share goes first,
   so capacity goes where the fair split says it is owed.
3. **Within a queue**: a job that has waited ``aging_h`` goes first in its queue, oldest first
   (it sits in the base's aged heap, `QueueingPolicy.aging_after_h`); then higher priority,
   then the shorter job (shortest job first lowers the mean completion time), then arrival.
   Aging inside the queue keeps its long jobs from being passed over by its own short ones
   without letting a busy queue's backlog jump the queues below their share (aging across
   queues turns a backlog into FIFO: docs/queueing.md, "Measured").

The constants come from the scenario's longest job, not from a trace's results:
``aging_h`` is `LONGEST_RUN_H`, 72 h (job lengths are clipped there:
`suanli.workload.traces.MAX_DURATION_H`): a job that has waited as long as any job can run has
seen every job running at its arrival end. ``overdue_h`` is twice that.

Admission fits the queue's quota plus what its cohort lends. A blocked job of a queue that
stays within its nominal quota reclaims room from jobs of borrowing queues on one of its pools
(Kueue's ``reclaimWithinCohort``): a job that runs on one node takes its victims from one node
(`rule_one_node_least_waste`), a gang across nodes takes the least-waste victims
(`rule_least_waste_first`) until their nodes would hold it (`gang_fits`), keeping those it can
do without; when the pool has room and only the quota the queue is owed is
lent out, the least-waste borrowers of that flavor on any pool give it back; a run that
started overdue is never a victim (`rule_overdue_runs_are_not_reclaimed`); victims are
tried on the quota book first and the trial is undone when they would not make room, and a
reclaim on the reserved pool must not delay the reservation. A reclaimed job then restarts
within its queue's nominal quota at once but as a borrower only after `rule_reclaim_backoff`
(60 s, doubling with each reclaim, at most 1 h): restarted at once as a borrower it would be
the least-waste victim of the next reclaim on its pool. Otherwise the highest-ranked blocked
job gets a reservation and the rest backfill behind it without delaying it.

Placement: a job waits for its data to reach a farther option only when the run there saves
``WAIT_PAYBACK`` (4) times the extra wait (`rule_worth_the_wait`), then joins its queue and
takes the fastest option with room and quota. The base cycle lets a job in as soon as its data
reaches any site it may use, so a job whose data is close to a slow pool took that pool even
when the data would reach a pool three times as fast within minutes.

Bound on waiting: a job is overdue after ``overdue_h``; the oldest overdue job is ranked first
and then waits at most until its reservation's pool frees, at most the longest run, and each
older overdue job goes before it in turn: a job starts within ``overdue_h + (1 + k) *
LONGEST_RUN_H`` of its arrival, ``k`` the jobs that arrived no later and had not finished when
it became overdue (216 h for the oldest). No bound without ``k`` holds for every job: a
backlog that arrives at once waits in proportion to its size under any order.

Gangs split across sites: a split option is admitted, reserved and backfilled like any other
(every part's pool and flavor); it does not reclaim (room made on one pool does not start a
gang that needs several: it waits for its reservation instead). A split gang that runs may be
reclaimed from on any of its pools; stopping it frees every part.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from typing import Any

import numpy as np

from suanli.core.capacity import gang_fits, job_milli
from suanli.core.options import Option
from suanli.core.policies.queueing.backfill import (
    Reservation,
    reserve,
    rule_backfill_never_delays_the_reservation,
)
from suanli.core.policies.queueing.base import EPS, QueueingPolicy, Waiting, runtime_h
from suanli.core.queueing.fairshare import rule_lower_share_first
from suanli.core.queueing.preemption import (
    Running,
    rule_least_waste_first,
    rule_one_node_least_waste,
    rule_reclaim_backoff,
)
from suanli.core.scheduler import CycleContext, Placement, Preemption, Scheduler

#: the longest run a job of the built-in workloads may have (hours): trace lengths are
#: clipped there (`suanli.workload.traces.MAX_DURATION_H`; the core does not import workloads)
LONGEST_RUN_H = 72.0


def rule_overdue_first(waited_h: float, overdue_h: float) -> bool:
    """A job that has waited ``overdue_h`` goes before every job that has not."""
    return waited_h >= overdue_h


def rule_overdue_runs_are_not_reclaimed(
    started_h: float, arrival_h: float, overdue_h: float
) -> bool:
    """A job that started overdue (``started_h - arrival_h >= overdue_h``) is no reclaim
    victim: the waiting bound counts on its start, and a reclaim at once would undo it (it
    borrows as any job of its queue may, and loses no work yet, so least waste picks it)."""
    return not rule_overdue_first(started_h - arrival_h, overdue_h)


#: a job waits for its data to reach a pool beyond the first it reaches only if the run there
#: saves this many times the extra wait (chosen by measurement: docs/queueing.md, "Worth the
#: wait")
WAIT_PAYBACK = 4.0


def rule_worth_the_wait(options: Sequence[Option], payback: float = WAIT_PAYBACK) -> Option:
    """The option a job should wait for: the least run time plus ``payback`` times the
    extra wait for its data (its ready time after the earliest one); ties go to the earlier
    ready time, then the site. With ``payback`` 1 this is the earliest finish.

    The wait is certain and the saving is not: the pool may be full when the data lands, the
    run time is an estimate, and meanwhile the tenant's demand goes unserved. So a farther pool
    must pay the wait back ``payback`` times. Every option ready sooner scores worse, so when
    this one is ready the fastest ready option is this one (or, if its pool is full then, the
    next best ready one).
    """
    first = min(o.ready_h for o in options)
    return min(
        options,
        key=lambda o: (payback * (o.ready_h - first) + o.runtime_h, o.ready_h, o.site, o.pool),
    )


class SuanliQueuePolicy(QueueingPolicy):
    name = "suanli-queue"
    #: after this long waiting, a job goes first within its queue (hours; see the module doc)
    aging_h = LONGEST_RUN_H
    #: reclaim room from borrowers for jobs within their queue's nominal quota
    reclaim = True

    def bind(self, scheduler: Scheduler) -> None:
        super().bind(scheduler)
        #: job id -> how often it was reclaimed (until it finishes)
        self.reclaims: dict[str, int] = {}
        #: job id -> until when it may restart only within its queue's nominal quota
        #: (`rule_reclaim_backoff`; dropped when it starts)
        self.hold_until: dict[str, float] = {}

    def on_preempted(self, placement: Placement, record: Preemption) -> None:
        super().on_preempted(placement, record)
        jid = placement.job.id
        n = self.reclaims[jid] = self.reclaims.get(jid, 0) + 1
        until = record.time_h + rule_reclaim_backoff(n)
        self.hold_until[jid] = until
        w = self.jobs[jid]
        w.pending.waiting_reason += f"; may borrow again from {until:.4f} h (reclaim {n})"

    def on_finish(self, placement: Placement, ctx: CycleContext) -> None:
        super().on_finish(placement, ctx)
        self.reclaims.pop(placement.job.id, None)

    def saved_state(self) -> dict[str, Any]:
        """The base's, plus the reclaim backoff: each job's reclaims and hold."""
        return {
            **super().saved_state(),
            "reclaims": dict(self.reclaims),
            "hold_until": dict(self.hold_until),
        }

    def restore_state(self, state: Mapping[str, Any], jobs: Container[str]) -> None:
        """The base's, plus the backoff of the jobs in ``jobs`` (the others are gone)."""
        reclaims, holds = state.get("reclaims", {}), state.get("hold_until", {})
        kept_reclaims = {j: int(n) for j, n in reclaims.items() if j in jobs}
        kept_holds = {j: float(t) for j, t in holds.items() if j in jobs}
        super().restore_state(state, jobs)
        self.reclaims, self.hold_until = kept_reclaims, kept_holds

    def may_borrow(self, w: Waiting, ctx: CycleContext) -> bool:
        """False while the job's reclaim hold lasts; an overdue job is never held (the
        waiting bound of the module docstring counts on its reservation)."""
        until = self.hold_until.get(w.pending.job.id)
        if until is None or until <= ctx.now + EPS:
            return True
        return rule_overdue_first(ctx.now - w.since_h, self.overdue_h)

    def wake_h(self, now: float) -> float | None:
        # a held job may borrow when its hold ends: wake then, though no data arrives
        for jid in [j for j, t in self.hold_until.items() if t <= now + EPS]:
            del self.hold_until[jid]
        return min(self.hold_until.values(), default=None)

    @property
    def overdue_h(self) -> float:
        """After this long waiting, a job goes before every other (twice ``aging_h``)."""
        return 2.0 * self.aging_h

    def ready_at(self, w: Waiting) -> float:
        target = rule_worth_the_wait(w.pending.options)
        fresh = not w.pending.waiting_reason  # a preempted job keeps why it waits
        if fresh and target.ready_h > min(o.ready_h for o in w.pending.options):
            w.pending.waiting_reason = (
                f"waiting for its data to reach {target.site}, where the run saves the wait "
                f"({target.accelerator}, {target.runtime_h:.2f} h from {target.ready_h:.2f} h)"
            )
        return target.ready_h

    def begin_cycle(self, ctx: CycleContext) -> None:
        self.reservation: Reservation | None = None
        self._shares = {q: self.share(q) for q in self.config.queues}

    def withdraw(self, job_id: str) -> bool:
        """The base's; its reclaim backoff goes with it (a hold left would wake cycles for
        nobody). The reservation needs nothing: each cycle reserves for its own top job
        (`begin_cycle`)."""
        if job_id not in self.jobs:
            return False
        self.hold_until.pop(job_id, None)
        self.reclaims.pop(job_id, None)
        return super().withdraw(job_id)

    @property
    def aging_after_h(self) -> float | None:  # type: ignore[override]
        return self.aging_h

    def within_key(self, w: Waiting) -> Any:
        if w.aged:
            return (w.since_h,)
        return (-w.pending.job.priority, runtime_h(w), w.since_h)

    def merge_key(self, w: Waiting, ctx: CycleContext) -> Any:
        # (not overdue, queue share, not aged, within-queue order); the aged heap is in
        # arrival order, and overdue is monotone in arrival, so each heap keeps its order
        waited = ctx.now - w.since_h
        if w.aged and rule_overdue_first(waited, self.overdue_h):
            return (1, 0.0, 0, (w.since_h, 0.0, 0.0))
        share = rule_lower_share_first(self._shares[w.queue])
        if w.aged:
            return (2, share, 0, (w.since_h, 0.0, 0.0))
        return (2, share, 1, (-w.pending.job.priority, runtime_h(w), w.since_h))

    def may_start(self, w: Waiting, option: Option, ctx: CycleContext) -> bool:
        return rule_backfill_never_delays_the_reservation(self.reservation, option, ctx.now)

    def scan_may_stop(self) -> bool:
        return self.reservation is not None

    def admit_reason(self, w: Waiting, option: Option) -> str:
        share = self._shares[w.queue]
        if self.reservation is not None:
            return f"suanli: backfilled, cannot delay the reserved start (share {share:.3f})"
        return f"suanli: lowest dominant share {share:.3f} in {w.queue}, room now"

    def after_start(self, w: Waiting, option: Option, ctx: CycleContext) -> None:
        self._shares[w.queue] = self.share(w.queue)
        self.hold_until.pop(w.pending.job.id, None)

    def on_blocked(self, w: Waiting, option: Option | None, why: str, ctx: CycleContext) -> bool:
        # a job of a class with preemptionPolicy: Never waits rather than evicts
        if self.reclaim and w.pending.job.preempts and self._reclaim(w, ctx):
            return True
        if not self.backfill_pass:  # between passes the cycle stops at the first blocked job
            w.pending.waiting_reason = f"ranked first, waiting for the backfill pass: {why}"
            return False
        if self.reservation is None:
            options = w.pending.options
            if not self.may_borrow(w, ctx):  # held: it may start only within its nominal
                milli = job_milli(w.pending.job)
                options = [o for o in options if self.within_nominal(w.queue, o, milli)]
            self.reservation = reserve(
                w.pending.job,
                options,
                self.scheduler.running.values(),
                ctx.capacity,
                ctx.now,
            )
            w.pending.waiting_reason = f"ranked first, reserved: {why}"
        else:
            w.pending.waiting_reason = f"behind the reservation: {why}"
        return True

    def _quota_fits_without(
        self, w: Waiting, flavor: str, milli: int, victims: list[Running]
    ) -> bool:
        """Trial on the quota book: would ``w`` fit its quota with ``victims`` gone? (Undone.)"""
        for v in victims:
            self.book.release(v.queue, v.flavor, v.milli)
        fits = self.book.fits(w.queue, flavor, milli)
        for v in victims:
            self.book.admit(v.queue, v.flavor, v.milli)
        return fits

    def _borrowers_on(self, w: Waiting, o: Option) -> list[Running]:
        """Running jobs on ``o``'s pool that ``w`` may reclaim (`rule_reclaim_within_cohort`:
        another queue's, borrowing that flavor, of no higher priority), in start order."""
        order: dict[str, int] = {}
        flavor = self.flavor(o)
        for q in self.config.queues:
            if q != w.queue and self.book.borrowed(q, flavor) > 0:
                order.update(self.running_in(flavor, q, below=w.pending.job.priority + 1))
        return [
            self.as_victim[jid][flavor]
            for jid in sorted(order, key=order.__getitem__)
            if self.held[jid].placement.grant.milli_on(o.site_idx, o.pool)
            and self._reclaimable(jid)
        ]

    def _reclaimable(self, job_id: str) -> bool:
        p = self.held[job_id].placement
        return rule_overdue_runs_are_not_reclaimed(p.start_h, p.job.arrival_h, self.overdue_h)

    def _victims(self, w: Waiting, o: Option, ctx: CycleContext) -> list[Running] | None:
        """The victims that make room for ``w`` on ``o``'s pool (None: they cannot)."""
        job = w.pending.job
        pool = self._borrowers_on(w, o)
        shapes = ctx.capacity.shapes(o.site_idx, o.pool, job)
        if len(shapes) == 1:  # one node: take the victims from one node
            holdings = {
                r.job_id: [
                    (a.node, a.gpu_ids, a.gpu_milli[0] if a.gpu_milli else 0)
                    for g in self.held[r.job_id].placement.grant.pieces()
                    if (g.site_idx, g.pool) == (o.site_idx, o.pool)
                    for a in g.allocations
                ]
                for r in pool
            }
            free = ctx.capacity.clusters[o.site_idx][o.pool].gpu_free
            found = rule_one_node_least_waste(
                free, shapes[0].num_gpu, shapes[0].gpu_milli, holdings, pool, ctx.now
            )
            return None if found is None else found[1]
        # a gang over several nodes: the least-waste victims until their nodes would hold it
        # (a trial on a copy of the pool's free GPUs; counting free milli in the pool alone
        # stopped victims whose GPUs were scattered over nodes the gang could not use)
        free = ctx.capacity.clusters[o.site_idx][o.pool].gpu_free.copy()
        per_node = ctx.capacity.pools[o.site_idx][o.pool].per_node
        victims: list[Running] = []
        for r in sorted(pool, key=lambda r: rule_least_waste_first(r, ctx.now)):
            if gang_fits(free, shapes, per_node):
                break
            victims.append(r)
            self._give_back(free, r, o, +1)
        if not gang_fits(free, shapes, per_node):
            return None
        # then keep, most waste first, every victim the gang can do without (the least-waste
        # order may have taken some on nodes that another victim's stop did not free whole)
        for r in sorted(victims, key=lambda r: rule_least_waste_first(r, ctx.now), reverse=True):
            self._give_back(free, r, o, -1)
            if gang_fits(free, shapes, per_node):
                victims.remove(r)
            else:
                self._give_back(free, r, o, +1)
        return victims

    def _give_back(self, free: np.ndarray, r: Running, o: Option, sign: int) -> None:
        """Add (``sign`` +1) or take back (-1) ``r``'s GPUs on ``o``'s pool in ``free``."""
        for g in self.held[r.job_id].placement.grant.pieces():
            if (g.site_idx, g.pool) == (o.site_idx, o.pool):
                for a in g.allocations:
                    free[a.node, list(a.gpu_ids)] += sign * np.asarray(a.gpu_milli)

    def _quota_victims(
        self, w: Waiting, flavor: str, milli: int, ctx: CycleContext
    ) -> list[Running] | None:
        """When ``w``'s pool has room but the cohort's ``flavor`` quota that ``w``'s queue is
        owed is lent out: the least-waste borrowers' jobs of ``flavor``, on any pool, whose
        stop gives it back (None: they cannot). A trial on the quota book, undone."""
        order: dict[str, int] = {}
        for q in self.config.queues:
            if q != w.queue and self.book.borrowed(q, flavor) > 0:
                order.update(self.running_in(flavor, q, below=w.pending.job.priority + 1))
        candidates = sorted(
            (self.as_victim[j][flavor] for j in order if self._reclaimable(j)),
            key=lambda r: rule_least_waste_first(r, ctx.now),
        )
        victims: list[Running] = []
        for r in candidates:
            victims.append(r)
            self.book.release(r.queue, r.flavor, r.milli)
            if self.book.fits(w.queue, flavor, milli):
                break
        fits = bool(victims) and self.book.fits(w.queue, flavor, milli)
        for r in victims:
            self.book.admit(r.queue, r.flavor, r.milli)
        return victims if fits else None

    def _reclaim(self, w: Waiting, ctx: CycleContext) -> bool:
        """Preempt borrowers' jobs on one pool so that ``w`` starts now; False if none can."""
        job, milli = w.pending.job, job_milli(w.pending.job)
        for o in sorted(w.pending.options, key=lambda o: o.runtime_h):
            if o.parts or o.ready_h > ctx.now or not self.may_start(w, o, ctx):
                continue  # split, not ready, or it would delay the reservation
            flavor = self.flavor(o)
            quota = self.config.queues[w.queue].quotas.get(flavor)
            if quota is None or self.book.used(w.queue, flavor) + milli > quota.nominal * 1000:
                continue  # rule_reclaim_within_cohort: the requester stays within nominal
            if ctx.capacity.fits(o.site_idx, o.pool, job):  # room, but the quota is lent
                victims = self._quota_victims(w, flavor, milli, ctx)  # tried on the book
            else:
                victims = self._victims(w, o, ctx)
                if victims and not self._quota_fits_without(w, flavor, milli, victims):
                    victims = None
            if not victims:
                continue
            for v in victims:
                self.scheduler.preempt(v.job_id, f"reclaimed by {w.queue} for {job.id}")
            if ctx.capacity.fits(o.site_idx, o.pool, job):
                return self.start(w, o, ctx, f"suanli: reclaimed {len(victims)} borrowed job(s)")
        return False


__all__ = [
    "LONGEST_RUN_H",
    "WAIT_PAYBACK",
    "SuanliQueuePolicy",
    "rule_overdue_first",
    "rule_overdue_runs_are_not_reclaimed",
    "rule_worth_the_wait",
]

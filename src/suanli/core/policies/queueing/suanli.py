"""Suanli's multi-tenant queueing policy.

Order (each cycle): a job that has waited longer than ``aging_h`` goes first, oldest first
(aging: no job waits forever); then the queue with the lowest weighted dominant share of
decayed usage (DRF, `suanli.core.queueing.fairshare`); within a share, higher priority, then
the shorter job (shortest-job-first lowers the mean completion time), then arrival.

Admission fits the queue's quota plus what its cohort lends. A job blocked while its queue is
within its nominal quota reclaims room from jobs of borrowing queues on one of its pools,
taking the victims that lose least work (`rule_least_waste_first`, which respects
checkpoints); victims are tried on the quota book first and the trial is undone when they
would not make room. Otherwise the highest-ranked blocked job gets a reservation and the
rest backfill behind it without delaying it.

Bound on waiting: a job is overdue after ``aging_h`` and then ranked first; it waits at most
``aging_h`` plus the time for its reservation's pool to free (at most the longest running job
there). The docs state the bound for each scenario from this rule.
"""

from __future__ import annotations

from typing import Any

from suanli.core.capacity import job_milli
from suanli.core.options import Option
from suanli.core.policies.queueing.backfill import (
    Reservation,
    reserve,
    rule_backfill_never_delays_the_reservation,
)
from suanli.core.policies.queueing.base import QueueingPolicy, Waiting, runtime_h
from suanli.core.queueing.fairshare import rule_lower_share_first
from suanli.core.queueing.preemption import Running, rule_least_waste_first
from suanli.core.scheduler import CycleContext


class SuanliQueuePolicy(QueueingPolicy):
    name = "suanli-queue"
    #: after this long waiting, a job is ranked first (hours)
    aging_h = 24.0
    #: reclaim room from borrowers for jobs within their queue's nominal quota
    reclaim = True

    def begin_cycle(self, ctx: CycleContext) -> None:
        self.reservation: Reservation | None = None
        self._shares = {q: self.share(q) for q in self.config.queues}

    @property
    def aging_after_h(self) -> float | None:  # type: ignore[override]
        return self.aging_h

    def within_key(self, w: Waiting) -> Any:
        if w.aged:
            return (w.since_h,)
        return (-w.pending.job.priority, runtime_h(w), w.since_h)

    def merge_key(self, w: Waiting, ctx: CycleContext) -> Any:
        if w.aged:  # overdue: oldest first, before every other job
            return (False, w.since_h, (), 0.0)
        fair = rule_lower_share_first(self._shares[w.queue], w.pending.job.priority, runtime_h(w))
        return (True, 0.0, fair, w.since_h)

    def may_start(self, w: Waiting, option: Option, ctx: CycleContext) -> bool:
        return rule_backfill_never_delays_the_reservation(self.reservation, option, ctx.now)

    def scan_may_stop(self) -> bool:
        return self.reservation is not None

    def admit_reason(self, w: Waiting, option: Option) -> str:
        share = self._shares[w.queue]
        if self.reservation is not None:
            return f"suanli: backfilled, ends before the reserved start (share {share:.3f})"
        return f"suanli: lowest dominant share {share:.3f} in {w.queue}, room now"

    def after_start(self, w: Waiting, option: Option, ctx: CycleContext) -> None:
        self._shares[w.queue] = self.share(w.queue)

    def on_blocked(self, w: Waiting, option: Option | None, why: str, ctx: CycleContext) -> bool:
        if self.reservation is None and self.reclaim and self._reclaim(w, ctx):
            return True
        if not self.backfill_pass:  # between passes the cycle stops at the first blocked job
            w.pending.waiting_reason = f"ranked first, waiting for the backfill pass: {why}"
            return False
        if self.reservation is None:
            self.reservation = reserve(
                w.pending.job,
                w.pending.options,
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

    def _reclaim(self, w: Waiting, ctx: CycleContext) -> bool:
        """Preempt borrowers' jobs on one pool so that ``w`` starts now; False if none can."""
        job, milli = w.pending.job, job_milli(w.pending.job)
        for o in sorted(w.pending.options, key=lambda o: o.runtime_h):
            if o.ready_h > ctx.now:
                continue
            quota = self.config.queues[w.queue].quotas.get(o.accelerator)
            if (
                quota is None
                or self.book.used(w.queue, o.accelerator) + milli > quota.nominal * 1000
            ):
                continue  # rule_reclaim_within_cohort: the requester stays within nominal
            free = ctx.capacity.free_milli[o.site_idx][o.pool]
            victims = []
            pool = [
                Running(
                    jid,
                    h.queue,
                    h.flavor,
                    h.milli,
                    h.placement.job.priority,
                    h.placement.start_h,
                    getattr(h.placement.job, "checkpoint_h", None),
                )
                for jid, h in self.held.items()
                if (h.placement.grant.site_idx, h.placement.grant.pool) == (o.site_idx, o.pool)
                and h.queue != w.queue
                and self.book.borrowed(h.queue, h.flavor) > 0
                and h.placement.job.priority <= job.priority
            ]
            for r in sorted(pool, key=lambda r: rule_least_waste_first(r, ctx.now)):
                if free >= milli:
                    break
                victims.append(r)
                free += r.milli
            if free < milli or not self._quota_fits_without(w, o.accelerator, milli, victims):
                continue
            for v in victims:
                self.scheduler.preempt(v.job_id, f"reclaimed by {w.queue} for {job.id}")
            if ctx.capacity.fits(o.site_idx, o.pool, job):
                return self.start(w, o, ctx, f"suanli: reclaimed {len(victims)} borrowed job(s)")
        return False


__all__ = ["SuanliQueuePolicy"]

"""The queueing baselines, each as faithful as one cycle of our core allows.

* ``fifo``  - one global queue in arrival order; the head blocks everything behind it; no
  quotas, no preemption, no backfill.
* ``slurm`` - Slurm's multifactor priority (``priority/multifactor``): age (capped at
  ``PriorityMaxAge``), fair share ``2^(-usage/shares)`` on usage decayed with
  ``PriorityDecayHalfLife``, job size (favouring large jobs, Slurm's default) and the job's own
  priority (as QOS), with backfill behind one reservation. Leaves out: partitions, QOS limits,
  association trees (every tenant is one account), preemption, multiple reservations.
* ``kueue`` - Kueue's ClusterQueues with ``queueingStrategy: StrictFIFO`` (priority, then
  creation time; a blocked head blocks its queue), admission by quota with cohort borrowing,
  and preemption ``withinClusterQueue: LowerPriority`` and ``reclaimWithinCohort: Any``. Leaves
  out: flavor fungibility (the fastest flavor with quota is taken), fair-sharing mode,
  ``borrowWithinCohort``, admission checks, partial admission, ``waitForPodsReady``.
  Admission is by quota, as in Kueue: a head that fits its quota but no node now is admitted
  (it holds the quota of the fastest ready option that fits it, on those flavors) and its
  pods wait for nodes, so its ClusterQueue moves on to the next head; such a job starts when
  a node of its flavors frees, in the cycle's order (the kube-scheduler's queue: priority,
  then creation). An admitted job whose pods wait is a preemption victim like a running one,
  and the least-waste one (it has lost nothing): a reclaim takes its quota back first and
  it queues again. The holds are part of its history (`KueuePolicy.saved_state`), so a
  rebuilt policy holds them again.

A split gang across sites preempts per flavor it draws on (`QueueingPolicy.shares`): victims
are chosen for every share, and preempted only if every share then fits.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from typing import Any

from suanli.core.capacity import job_milli
from suanli.core.options import Option
from suanli.core.policies.queueing.backfill import (
    Reservation,
    reserve,
    rule_backfill_never_delays_the_reservation,
)
from suanli.core.policies.queueing.base import QueueingPolicy, Waiting, wait_h
from suanli.core.queueing import FlavorQuota
from suanli.core.queueing.preemption import Outcome, Request, Running, select_from
from suanli.core.scheduler import CycleContext, PendingJob, Placement, Scheduler


class FifoPolicy(QueueingPolicy):
    name = "fifo"
    enforce_quota = False

    def within_key(self, w: Waiting) -> Any:
        return (w.since_h,)

    def merge_key(self, w: Waiting, ctx: CycleContext) -> Any:
        return (w.since_h,)

    def admit_reason(self, w: Waiting, option: Option) -> str:
        return "fifo: head of the single queue, room now"


class SlurmPolicy(QueueingPolicy):
    name = "slurm"
    enforce_quota = False
    weight_age = 1000.0
    weight_fairshare = 1000.0
    weight_size = 100.0
    weight_qos = 100.0
    max_age_h = 168.0

    def begin_cycle(self, ctx: CycleContext) -> None:
        self.reservation: Reservation | None = None
        total = sum(self.config.queues[q].weight for q in self.config.queues)
        cap = sum(self.capacity_of.values()) or 1.0
        self._fs: dict[str, float] = {}
        for name, q in self.config.queues.items():
            used = sum(self.decayed.of(name, f) for f in self.capacity_of) / cap
            self._fs[name] = 2.0 ** (-used / (q.weight / total))

    @property
    def aging_after_h(self) -> float | None:  # type: ignore[override]
        """The age factor stops growing at ``PriorityMaxAge``: such jobs share one heap."""
        return self.max_age_h

    def bind(self, scheduler: Scheduler) -> None:
        super().bind(scheduler)
        self._largest = max(self.capacity_of.values(), default=1.0)

    def _static(self, w: Waiting) -> float:
        """The factors that do not change while the job waits (size, QOS)."""
        size = min(w.pending.job.accelerators / self._largest, 1.0)
        return self.weight_size * size + self.weight_qos * w.pending.job.priority

    def priority(self, w: Waiting, now: float) -> float:
        """Slurm's multifactor sum of weighted factors in [0, 1]."""
        age = min(wait_h(w, now) / self.max_age_h, 1.0)
        return self.weight_age * age + self.weight_fairshare * self._fs[w.queue] + self._static(w)

    def within_key(self, w: Waiting) -> Any:
        # the age factor grows alike for every job of a queue until it is capped
        if w.aged:
            return (-self._static(w),)
        return (self.weight_age * w.since_h / self.max_age_h - self._static(w),)

    def merge_key(self, w: Waiting, ctx: CycleContext) -> Any:
        return (-self.priority(w, ctx.now),)

    def may_start(self, w: Waiting, option: Option, ctx: CycleContext) -> bool:
        return rule_backfill_never_delays_the_reservation(self.reservation, option, ctx.now)

    def scan_may_stop(self) -> bool:
        return self.reservation is not None

    def admit_reason(self, w: Waiting, option: Option) -> str:
        if self.reservation is None:
            return "slurm: highest multifactor priority with room now"
        return "slurm: backfilled (cannot delay the reserved start of the blocked top job)"

    def on_blocked(self, w: Waiting, option: Option | None, why: str, ctx: CycleContext) -> bool:
        if not self.backfill_pass:  # the main scheduler stops at the first blocked job
            w.pending.waiting_reason = f"top priority, waiting for the backfill pass: {why}"
            return False
        if self.reservation is None:
            self.reservation = reserve(
                w.pending.job,
                w.pending.options,
                self.scheduler.running.values(),
                ctx.capacity,
                ctx.now,
            )
            w.pending.waiting_reason = f"top priority, reserved: {why}"
        else:
            w.pending.waiting_reason = f"behind the reservation: {why}"
        return True


class KueuePolicy(QueueingPolicy):
    name = "kueue"

    def begin_cycle(self, ctx: CycleContext) -> None:
        self.blocked: set[str] = set()
        # every job waiting or running when the history was restored has arrived or been
        # restored by the first cycle: a hold left is of a job gone (rejected at intake)
        self.restored.clear()

    def within_key(self, w: Waiting) -> Any:
        return (-w.pending.job.priority, w.since_h)

    def merge_key(self, w: Waiting, ctx: CycleContext) -> Any:
        """Kueue's order of a cycle's heads (its classical iterator): workloads that already
        hold quota first (here: admitted by quota, pods waiting), then heads within their
        nominal quota before heads that borrow, then priority, then age. Only a queue's
        head is ranked so: within a ClusterQueue the order stays StrictFIFO (`order`)."""
        jid = w.pending.job.id
        held = jid in self.reserved
        return (not held, not held and self._borrows(w, ctx), -w.pending.job.priority, w.since_h)

    def order(self, heads: list[Waiting], ctx: CycleContext) -> list[Waiting]:
        """The reference for `ordered`: each ClusterQueue's jobs in StrictFIFO order
        (`within_key`), the queues merged by their current head's `merge_key`. Kueue ranks
        heads, not the backlog, so this is no full sort: a head that borrows keeps a job
        behind it that would not."""
        lines: dict[str, list[Waiting]] = {}
        for w in sorted(heads, key=lambda w: (self.within_key(w), w.seq)):
            lines.setdefault(w.queue, []).append(w)
        at = dict.fromkeys(lines, 0)
        out: list[Waiting] = []
        while True:
            tops = [
                (self.merge_key(ws[at[q]], ctx), ws[at[q]].seq, q)
                for q, ws in lines.items()
                if at[q] < len(ws)
            ]
            if not tops:
                return out
            q = min(tops)[2]
            out.append(lines[q][at[q]])
            at[q] += 1

    def _borrows(self, w: Waiting, ctx: CycleContext) -> bool:
        """Whether ``w``'s flavor assignment takes its queue past its nominal quota: the
        flavors of the fastest ready option whose quota fits (`_quota_option`), else of the
        fastest ready option (the one it would preempt for)."""
        milli = job_milli(w.pending.job)
        option = self._quota_option(w, ctx)
        if option is None:
            ready = [o for o in w.pending.options if o.ready_h <= ctx.now]
            if not ready:
                return False
            option = min(ready, key=lambda o: (o.runtime_h, o.site))
        return not self.within_nominal(w.queue, option, milli)

    def may_consider(self, w: Waiting, ctx: CycleContext) -> bool:
        return w.queue not in self.blocked

    def queue_open(self, queue: str) -> bool:
        return queue not in self.blocked

    def admit_reason(self, w: Waiting, option: Option) -> str:
        flavor = self.flavor(option)
        borrowing = self.book.borrowed(w.queue, flavor) + job_milli(w.pending.job)
        over = (
            borrowing
            > self.config.queues[w.queue].quotas.get(flavor, FlavorQuota(0.0)).nominal * 1000
        )
        return f"kueue: head of ClusterQueue {w.queue}" + (" (borrowing)" if over else "")

    def bind(self, scheduler: Scheduler) -> None:
        super().bind(scheduler)
        #: quota held by jobs admitted by quota whose pods wait for nodes (Kueue admits a
        #: workload by quota; the kube-scheduler then places its pods). Without the hold after
        #: a preemption, the victims' queue took the quota back in the next cycle and the head
        #: preempted again (pai-2020, 1.2 days: 857 searches that preempted, 2,042 victims, 16
        #: heads started). Job id -> (flavor, milli) per flavor it holds, in admission order.
        self.reserved: dict[str, tuple[tuple[str, int], ...]] = {}
        #: holds taken back from an earlier policy (`restore_state`) for jobs that have not
        #: arrived yet: each is held again when its job arrives, if it still fits the quota
        self.restored: dict[str, tuple[tuple[str, int], ...]] = {}

    def saved_state(self) -> dict[str, Any]:
        """The base's, plus the quota holds: job id -> flavor -> milli held (those taken
        back and not yet held again included)."""
        holds = {**self.restored, **self.reserved}
        return {
            **super().saved_state(),
            "holds": {jid: dict(shares) for jid, shares in holds.items()},
        }

    def restore_state(self, state: Mapping[str, Any], jobs: Container[str]) -> None:
        """The base's, plus the holds of the jobs in ``jobs`` on flavors that still exist;
        each is held again when its job arrives waiting (`on_arrival`), if every share still
        fits its queue's quota then (a quota lowered under it, or taken by the running jobs
        restored before, drops it whole: the head then asks again, as a head without one).
        A job restored running holds none (it has its quota as a running job)."""
        kept = {
            jid: tuple((str(f), int(m)) for f, m in by_flavor.items())
            for jid, by_flavor in state.get("holds", {}).items()
            if jid in jobs
        }
        super().restore_state(state, jobs)
        self.restored = {
            jid: shares
            for jid, shares in kept.items()
            if shares and all(f in self.capacity_of for f, _ in shares)
        }

    def on_arrival(self, pending: PendingJob, ctx: CycleContext) -> None:
        super().on_arrival(pending, ctx)
        held = self.restored.pop(pending.job.id, None)
        if held is None:
            return
        w = self.jobs[pending.job.id]
        if all(self.book.fits(w.queue, f, m) for f, m in held):
            self._hold(w, held)
            w.pending.waiting_reason = (
                f"kueue: admitted by quota in {w.queue} (held across a rebuild), pods wait"
            )

    def on_restored(self, placement: Placement) -> None:
        super().on_restored(placement)
        self.restored.pop(placement.job.id, None)

    def withdraw(self, job_id: str) -> bool:
        """The base's; an admitted job whose pods wait gives its quota hold back to the book
        at once (another queue may borrow it in the next cycle; a hold taken back from an
        earlier policy for it goes too). A StrictFIFO head withdrawn unblocks its queue:
        the next cycle looks at the next head."""
        w = self.jobs.get(job_id)
        if w is None:
            return False
        self._unhold(w)
        self.restored.pop(job_id, None)
        return super().withdraw(job_id)

    def _unhold(self, w: Waiting) -> tuple[tuple[str, int], ...] | None:
        held = self.reserved.pop(w.pending.job.id, None)
        for flavor, milli in held or ():
            self.book.release(w.queue, flavor, milli)
        return held

    def _hold(self, w: Waiting, held: tuple[tuple[str, int], ...] | None) -> None:
        if held is not None:
            for flavor, milli in held:
                self.book.admit(w.queue, flavor, milli)
            self.reserved[w.pending.job.id] = held

    def nominate_option(
        self, w: Waiting, ctx: CycleContext, options: Sequence[Option] | None = None
    ) -> tuple[Option | None, str]:
        """As the base, counting the quota the job already holds as its own; a job admitted
        by quota starts only on the flavors it was admitted on (its pods' node affinity)."""
        held = self._unhold(w)
        try:
            if held is not None and options is None:
                flavors = {f for f, _ in held}
                milli = job_milli(w.pending.job)
                options = [
                    o for o in w.pending.options
                    if {f for f, _ in self.shares(o, milli)} == flavors
                ]  # fmt: skip
            return super().nominate_option(w, ctx, options)
        finally:
            self._hold(w, held)

    def _admit_by_quota(self, w: Waiting, ctx: CycleContext) -> tuple[tuple[str, int], ...] | None:
        """The (flavor, milli) shares of the fastest ready option whose quota fits ``w`` now,
        whether or not a node has room (Kueue's flavor assignment); None: none fits."""
        option = self._quota_option(w, ctx)
        return None if option is None else self.shares(option, job_milli(w.pending.job))

    def _quota_option(self, w: Waiting, ctx: CycleContext) -> Option | None:
        """The fastest ready option whose quota fits ``w`` now (None: none)."""
        milli = job_milli(w.pending.job)
        ready = [o for o in w.pending.options if o.ready_h <= ctx.now]
        for o in sorted(ready, key=lambda o: (o.runtime_h, o.site)):
            if self.quota_fits(w.queue, o, milli) is None:
                return o
        return None

    def start(self, w: Waiting, option: Option, ctx: CycleContext, reason: str) -> bool:
        held = self._unhold(w)  # a held quota turns into the running job's own
        started = super().start(w, option, ctx, reason)
        if not started:
            self._hold(w, held)
        return started

    def on_blocked(self, w: Waiting, option: Option | None, why: str, ctx: CycleContext) -> bool:
        jid = w.pending.job.id
        if jid not in self.reserved:
            shares = self._admit_by_quota(w, ctx)
            if shares is not None:
                self._hold(w, shares)
        if jid in self.reserved:  # admitted: no longer the head of its queue
            w.pending.waiting_reason = f"kueue: admitted by quota in {w.queue}, pods wait: {why}"
            return True
        self.blocked.add(w.queue)
        w.pending.waiting_reason = f"StrictFIFO head of {w.queue}: {why}"
        shares = self._preempt_for(w, ctx)
        if shares is None:
            return True
        option, why = self.nominate_option(w, ctx)
        if option is not None and self.start(
            w, option, ctx, f"kueue: admitted in {w.queue} after preemption"
        ):
            self.blocked.discard(w.queue)
            return True
        if w.pending.job.id not in self.reserved and all(
            self.book.fits(w.queue, f, m) for f, m in shares
        ):
            self._hold(w, shares)
            self.blocked.discard(w.queue)  # admitted: the queue's next head is looked at
            w.pending.waiting_reason = (
                f"kueue: admitted by quota in {w.queue} after preemption, waiting for nodes"
            )
        return True

    def candidates(self, req: Request) -> list[str]:
        """The running jobs that `preemption.candidates` would allow ``req`` to evict, in
        the order they started (the order of ``self.held``, so ties in the victims' sort fall
        as in a walk over every running job): its own queue's jobs of lower priority
        (``withinClusterQueue``) and, while ``req`` stays within its nominal quota, every job
        of a queue of its cohort that borrows the flavor (``reclaimWithinCohort``)."""
        order = self.running_in(req.flavor, req.queue, below=req.priority)
        cfg = self.config
        mine = cfg.queues[req.queue]
        nominal = mine.quotas.get(req.flavor)
        within = nominal is not None and (
            self.book.used(req.queue, req.flavor) + req.milli <= nominal.nominal * 1000
        )
        lenders: set[str] = set()
        if within and mine.cohort is not None:
            root = cfg.root(mine.cohort)
            for name, q in cfg.queues.items():
                if name == req.queue or q.cohort is None or cfg.root(q.cohort) != root:
                    continue
                if self.book.borrowed(name, req.flavor) > 0:
                    order.update(self.running_in(req.flavor, name))
                    lenders.add(name)
        # admitted jobs whose pods wait, after the running ones (in admission order)
        for jid, held in self.reserved.items():
            w = self.jobs.get(jid)
            if w is None or not any(f == req.flavor for f, _ in held):
                continue
            prio = w.pending.job.priority
            if (w.queue == req.queue and prio < req.priority) or w.queue in lenders:
                order[jid] = self._started + len(order)
        return sorted(order, key=order.__getitem__)

    def _as_victim(self, job_id: str, flavor: str, now: float) -> Running:
        """``job_id`` as preemption sees it on ``flavor``: running, or admitted with its pods
        waiting (started now, so it loses nothing)."""
        if job_id in self.as_victim:
            return self.as_victim[job_id][flavor]
        w = self.jobs[job_id]
        milli = sum(m for f, m in self.reserved[job_id] if f == flavor)
        return Running(job_id, w.queue, flavor, milli, w.pending.job.priority, now, None)

    def select(
        self, req: Request, running: list[Running], now: float
    ) -> tuple[Outcome, list[Running]]:
        """`preemption.select_victims` on the jobs `candidates` found (they are allowed)."""
        return select_from(req, running, self.book, now)

    def _preempt_for(self, w: Waiting, ctx: CycleContext) -> tuple[tuple[str, int], ...] | None:
        """Preempt the victims that make ``w`` fit its quota; the (flavor, milli) shares they
        freed room for, or None (also for a job whose priority class has
        ``preemptionPolicy: Never``). A split gang needs victims for every share it draws."""
        job, milli = w.pending.job, job_milli(w.pending.job)
        if not job.preempts:
            return None
        for o in w.pending.options:
            if o.ready_h > ctx.now:
                continue
            shares = self.shares(o, milli)
            chosen: dict[str, None] = {}
            outcomes = []
            for flavor, m in shares:
                req = Request(w.queue, flavor, m, job.priority)
                running = [self._as_victim(jid, flavor, ctx.now) for jid in self.candidates(req)]
                outcome, victims = self.select(req, running, ctx.now)
                outcomes.append(outcome)
                chosen.update((v.job_id, None) for v in victims)
            if Outcome.NO_FIT not in outcomes and Outcome.PREEMPT in outcomes:
                reason = f"kueue: room for {job.id} in {w.queue}"
                for jid in chosen:
                    if jid in self.scheduler.running:
                        self.scheduler.preempt(jid, reason)
                    elif jid in self.reserved:  # admitted, its pods waiting: it queues again
                        evicted = self.jobs[jid]
                        self._unhold(evicted)
                        evicted.pending.waiting_reason = f"{reason} (evicted before its pods ran)"
                return shares
        return None


__all__ = ["FifoPolicy", "KueuePolicy", "SlurmPolicy"]

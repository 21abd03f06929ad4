"""Multi-tenant queueing policies: the shared cycle, with each baseline's rules plugged in.

Every policy here runs the cycle in numbered phases:

1. **heads**     the waiting jobs whose data has arrived, per queue;
2. **snapshot**  the quota book (`suanli.core.queueing.QuotaBook`) and decayed usage as of now;
3. **nominate**  for each job, the fastest option that fits its pool and its queue's quota;
4. **order**     the policy's ranking (`order`): FIFO, Slurm's multifactor priority, Kueue's
                 StrictFIFO per queue, or Suanli's DRF with aging;
5. **admit or preempt**  start the job; if it is blocked, the policy may preempt
                 (`on_blocked`: victims tried on the quota book first, the trial undone when
                 they do not make it fit) or reserve its start and backfill behind it;
6. **requeue**   what did not start waits, with its reason; the next wake-up is the earliest
                 data arrival.

Queues, quotas and cohorts come from the scenario's ``queueing:`` section, else from its
tenants (`default_config`): one queue per tenant with its ``quota`` as nominal quota (a tenant
without one gets a share of every flavor by weight), all in one cohort ``network`` that lends
unused quota without limits.

Ordering is incremental (phases 1 and 4): a waiting job sits in one heap per (queue, aged)
under a key that does not change while it waits (`within_key`); a job moves to its queue's
aged heap once it has waited `aging_after_h`. Each cycle merges the heaps' tops under the
cycle's exact key (`merge_key`, which orders every heap the same way as its `within_key`)
and pops only as many jobs as it examines, so a cycle costs O(k log n) for the k jobs it looks
at instead of sorting the whole backlog. `order` is the same order by a full sort (the
reference the tests compare against).

A gang split across sites (an option with ``parts``) draws on the quota of each part's flavor
(`shares`: the parts' milli summed per flavor, so with ``flavorScope: site`` each part counts
at its own site and with ``hub`` or ``network`` the parts count together); it fits when every
share fits and every part's pool has room, holds every share while it runs and, preempted or
finished, gives every share back.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import Counter, defaultdict
from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from suanli.core.capacity import job_milli, to_milli
from suanli.core.options import Option
from suanli.core.queueing import (
    ClusterQueue,
    Cohort,
    DecayedUsage,
    FlavorQuota,
    QueueingConfig,
    QuotaBook,
)
from suanli.core.queueing.preemption import Running
from suanli.core.scheduler import (
    CycleContext,
    PendingJob,
    Placement,
    Policy,
    Preemption,
    Scheduler,
)
from suanli.errors import SchedulingError
from suanli.model import Scenario

EPS = 1e-9


def default_config(scenario: Scenario) -> QueueingConfig:
    """One queue per tenant (nominal quota from ``Tenant.quota``, else a weighted share of
    every flavor), all in cohort ``network`` with unlimited borrowing and lending."""
    total: dict[str, int] = defaultdict(int)
    for site in scenario.sites.values():
        for pool in site.pools:
            total[pool.accelerator] += pool.accelerators
    weights = sum(t.weight for t in scenario.tenants.values()) or 1.0
    queues = {}
    for t in scenario.tenants.values():
        if t.quota:
            quotas = {f: FlavorQuota(float(n)) for f, n in t.quota.items()}
        else:
            quotas = {f: FlavorQuota(n * t.weight / weights) for f, n in total.items()}
        queues[t.id] = ClusterQueue(t.id, (t.id,), quotas, "network", t.weight)
    return QueueingConfig(queues, {"network": Cohort("network")})


@dataclass(slots=True)
class Waiting:
    pending: PendingJob
    queue: str
    seq: int
    since_h: float
    #: in its queue's aged heap (it has waited `QueueingPolicy.aging_after_h`)
    aged: bool = False


@dataclass(frozen=True, slots=True)
class Held:
    """A running job's share of the quota book."""

    queue: str
    flavor: str
    milli: int
    placement: Placement
    #: (flavor, milli) of every flavor it holds (a split gang may hold several)
    shares: tuple[tuple[str, int], ...] = ()

    def each(self) -> tuple[tuple[str, int], ...]:
        return self.shares or ((self.flavor, self.milli),)


class QueueingPolicy(Policy):
    """The shared cycle; subclasses define `order` and what happens to a blocked job."""

    name = "queueing"
    #: whether admission must fit the queue's quota (plus what its cohort lends)
    enforce_quota = True
    #: Slurm's PriorityDecayHalfLife analogue for fair-share usage (hours)
    half_life_h = 24.0
    #: jobs examined per cycle after ordering (bounds the cost of a long queue)
    scan_limit = 400
    #: hours between backfill passes (Slurm's ``bf_interval``, 30 s by default); between
    #: passes a cycle admits in order and stops at the first blocked job
    backfill_interval_h = 30.0 / 3600.0

    def bind(self, scheduler: Scheduler) -> None:
        super().bind(scheduler)
        self.config = getattr(scheduler.scenario, "queueing", None) or default_config(
            scheduler.scenario
        )
        self.book = QuotaBook(self.config)
        self.decayed = DecayedUsage(self.half_life_h)
        self.capacity_of: dict[str, float] = defaultdict(float)
        for site in scheduler.scenario.sites.values():
            for pool in site.pools:
                self.capacity_of[self.config.flavor(pool.accelerator, site.id)] += pool.accelerators
        self.queue_of = {t: q.name for q in self.config.queues.values() for t in q.tenants}
        self.jobs: dict[str, Waiting] = {}
        self.held: dict[str, Held] = {}
        #: (flavor, queue) -> priority -> running job id -> start order: the index the victim
        #: searches read instead of walking every running job (ties fall in start order)
        self.held_by: dict[tuple[str, str], dict[int, dict[str, int]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        #: each running job as preemption sees it, per flavor it holds (built at its start)
        self.as_victim: dict[str, dict[str, Running]] = {}
        self._started = 0
        self.seq = 0
        #: (queue, aged) -> heap of (within key, seq, job id); stale entries are skipped
        self.heaps: dict[tuple[str, bool], list[tuple[Any, int, str]]] = defaultdict(list)
        #: jobs not ready yet: (earliest ready time, seq, job id)
        self.unready: list[tuple[float, int, str]] = []
        #: ready, not yet aged jobs by the time they started waiting: (since, seq, job id)
        self.to_age: list[tuple[float, int, str]] = []
        #: jobs that came back during a cycle wait for the next one (as with a full sort)
        self._deferred: list[Waiting] | None = None
        #: waiting jobs by milli-accelerators (the smallest bounds what can still start)
        self.sizes: Counter[int] = Counter()
        self._max_free: int | None = None
        #: whether this cycle is a backfill pass, and when the next one is due
        self.backfill_pass = True
        self._next_backfill = 0.0
        #: every quota breach seen at admission (0 for policies that enforce quotas)
        self.quota_violations = 0

    # -- inputs -------------------------------------------------------------------------

    def on_arrival(self, pending: PendingJob, ctx: CycleContext) -> None:
        queue = self.queue_of.get(pending.job.tenant, next(iter(self.config.queues)))
        self._add(Waiting(pending, queue, self.seq, pending.job.arrival_h))
        self.seq += 1

    def _add(self, w: Waiting) -> None:
        self.jobs[w.pending.job.id] = w
        self.sizes[smallest_milli(w.pending)] += 1
        if self._deferred is not None:
            self._deferred.append(w)
        else:
            self._push(w)

    def _push(self, w: Waiting) -> None:
        heapq.heappush(self.unready, (self.ready_at(w), w.seq, w.pending.job.id))

    def ready_at(self, w: Waiting) -> float:
        """When ``w`` joins its queue: when its data first reaches a site it may use."""
        return min(o.ready_h for o in w.pending.options)

    def flavor(self, option: Option) -> str:
        """The quota flavor ``option`` draws on (its type, in the config's scope; a split
        gang's largest part's: see `shares` for all of them)."""
        return self.config.flavor(option.accelerator, option.site)

    def shares(self, option: Option, milli: int) -> tuple[tuple[str, int], ...]:
        """(flavor, milli) the job draws on each flavor if it runs as ``option``."""
        if not option.parts:
            return ((self.flavor(option), milli),)
        out: dict[str, int] = {}
        for p in option.parts:
            f = self.config.flavor(option.accelerator, p.site)
            out[f] = out.get(f, 0) + to_milli(p.accelerators)
        return tuple(out.items())

    def within_nominal(self, queue: str, option: Option, milli: int) -> bool:
        """Whether ``queue`` stays within its nominal quota of every flavor ``option`` draws
        on (a job started so cannot be reclaimed: `rule_reclaim_within_cohort`)."""
        quotas = self.config.queues[queue].quotas
        for f, m in self.shares(option, milli):
            q = quotas.get(f)
            if q is None or self.book.used(queue, f) + m > q.nominal * 1000:
                return False
        return True

    def quota_fits(self, queue: str, option: Option, milli: int) -> str | None:
        """None if the job fits ``queue``'s quota on ``option``, else the flavor short."""
        if not option.parts:  # the common case, on the admission scan's hot path
            flavor = self.flavor(option)
            return None if self.book.fits(queue, flavor, milli) else flavor
        for f, m in self.shares(option, milli):
            if not self.book.fits(queue, f, m):
                return f
        return None

    def _live(self, seq: int, job_id: str) -> Waiting | None:
        w = self.jobs.get(job_id)
        return w if w is not None and w.seq == seq else None

    def _refresh(self, now: float) -> None:
        """Phase 1: jobs whose data has arrived join their queue's heap; waiting jobs age."""
        while self.unready and self.unready[0][0] <= now + EPS:
            _, seq, jid = heapq.heappop(self.unready)
            w = self._live(seq, jid)
            if w is None:
                continue
            w.aged = self.aging_after_h is not None and wait_h(w, now) >= self.aging_after_h
            heapq.heappush(self.heaps[(w.queue, w.aged)], (self.within_key(w), w.seq, jid))
            if not w.aged and self.aging_after_h is not None:
                heapq.heappush(self.to_age, (w.since_h, w.seq, jid))
        limit = self.aging_after_h
        while limit is not None and self.to_age and now - self.to_age[0][0] >= limit:
            _, seq, jid = heapq.heappop(self.to_age)
            w = self._live(seq, jid)
            if w is None or w.aged:
                continue
            w.aged = True  # its entry in the fresh heap is now stale
            heapq.heappush(self.heaps[(w.queue, True)], (self.within_key(w), w.seq, jid))

    def ordered(self, ctx: CycleContext, taken: list[tuple[Any, int, str]]) -> Iterator[Waiting]:
        """The ready jobs in this cycle's order, popped lazily from the heaps; every entry
        popped is appended to ``taken`` (the caller puts back those still waiting)."""
        tops: list[tuple[Any, int, tuple[str, bool]]] = []
        for key in self.heaps:
            w = self._top(key)
            if w is not None:
                tops.append((self.merge_key(w, ctx), w.seq, key))
        heapq.heapify(tops)
        while tops:
            _, _, key = tops[0]
            if not self.queue_open(key[0]):
                heapq.heappop(tops)
                continue
            heap = self.heaps[key]
            entry = heapq.heappop(heap)
            taken.append(entry)
            w = self.jobs[entry[2]]
            nxt = self._top(key)
            if nxt is None:
                heapq.heappop(tops)
            else:
                heapq.heapreplace(tops, (self.merge_key(nxt, ctx), nxt.seq, key))
            yield w

    def _top(self, key: tuple[str, bool]) -> Waiting | None:
        """The first live entry of heap ``key`` (stale ones, of jobs gone or aged, dropped)."""
        heap = self.heaps[key]
        while heap:
            _, seq, jid = heap[0]
            w = self._live(seq, jid)
            if w is not None and (w.queue, w.aged) == key:
                return w
            heapq.heappop(heap)
        return None

    def on_finish(self, placement: Placement, ctx: CycleContext) -> None:
        self._release(placement.job.id, ctx.now)

    def on_restored(self, placement: Placement) -> None:
        """A job that was running before a restart (`Scheduler.restore`) holds its quota
        again, and may be a victim as any running job (the service's restart path)."""
        queue = self.queue_of.get(placement.job.tenant, next(iter(self.config.queues)))
        # a quota lowered under a running job counts as a violation; its usage counts as held
        # since the time the decayed usage holds at (that of `restore_state`, else 0)
        self._count_held(queue, placement, self.decayed.now)

    def saved_state(self) -> dict[str, Any]:
        """What a policy rebuilt over the same jobs needs of this one's history to order as
        this one does (`restore_state`), in plain numbers: ``at_h``, the time the decayed
        ``usage`` (queue -> flavor -> average) holds at, and what each queue ``held`` then
        (not restored: the running jobs are counted again; it tells the caller whether the
        history changed other than by decay, which follows from the rest)."""
        at, average = self.decayed.snapshot()
        return {
            "at_h": at,
            "usage": _by_queue(average),
            "held": _by_queue(self.decayed.current),
        }

    def restore_state(self, state: Mapping[str, Any], jobs: Container[str]) -> None:
        """Take back an earlier policy's `saved_state` before any job is restored or arrives
        (`on_restored` then counts each running job from ``at_h``). Usage of a queue or flavor
        this configuration lacks is dropped; a new queue starts at 0. ``jobs``: those still
        waiting or running (the per-job state of a subclass keeps only theirs)."""
        if self.held or self.jobs:
            raise SchedulingError("a policy's history is restored before any job")
        usage = {
            (queue, flavor): float(value)
            for queue, flavors in state.get("usage", {}).items()
            if queue in self.config.queues
            for flavor, value in flavors.items()
            if flavor in self.capacity_of
        }
        self.decayed.restore(float(state["at_h"]), usage)

    def on_preempted(self, placement: Placement, record: Preemption) -> None:
        """A preempted job waits again, resuming from its last checkpoint."""
        self._release(placement.job.id, record.time_h)
        self._max_free = None
        left = 1.0 - record.kept_h / placement.option.runtime_h if placement.option.runtime_h else 1
        options = [
            dataclasses.replace(o, runtime_h=o.runtime_h * left)
            for o in placement.explanation.options
        ]
        # its restart is a new admission: where a verdict depends on state (export volumes,
        # approvals), the rules are asked again when it starts, as at its first start
        recheck = self.scheduler.needs_recheck(placement.job)
        pending = PendingJob(
            placement.job, options, dict(placement.explanation.excluded), recheck=recheck
        )
        pending.waiting_reason = f"preempted: {record.reason}"
        queue = self.queue_of.get(placement.job.tenant, next(iter(self.config.queues)))
        self._add(Waiting(pending, queue, self.seq, placement.job.arrival_h))
        self.seq += 1

    def waiting(self) -> int:
        return len(self.jobs)

    def withdraw(self, job_id: str) -> bool:
        """The job leaves its queue: its heap entries are stale from now on (`_live`), and
        the smallest-waiting-job counter (`sizes`) forgets it. Subclasses drop what else
        they hold for it."""
        w = self.jobs.pop(job_id, None)
        if w is None:
            return False
        self._shrink(smallest_milli(w.pending))
        return True

    @property
    def next_backfill_h(self) -> float:
        """When the next backfill pass is due. A driver whose cycles are sparse (the service,
        where a cycle runs only when something happened) wakes then while jobs wait, so a job
        that can backfill does not wait for an unrelated event."""
        return self._next_backfill

    # -- the cycle ----------------------------------------------------------------------

    def nominate(self, ctx: CycleContext) -> float | None:
        self._refresh(ctx.now)  # 1. heads
        self.decayed.advance(ctx.now)  # 2. snapshot
        self.begin_cycle(ctx)
        taken: list[tuple[Any, int, str]] = []
        self._deferred = []
        self._max_free = None
        self.backfill_pass = ctx.now >= self._next_backfill - EPS
        if self.backfill_pass:
            self._next_backfill = ctx.now + self.backfill_interval_h
        try:
            for n, w in enumerate(self.ordered(ctx, taken)):  # 4. order
                if n >= self.scan_limit or (self.scan_may_stop() and self._full(ctx)):
                    break
                if w.pending.job.id not in self.jobs or not self.may_consider(w, ctx):
                    continue
                option, why = self.nominate_option(w, ctx)  # 3. nominate
                if option is not None and self.may_start(w, option, ctx):
                    self.start(w, option, ctx, self.admit_reason(w, option))  # 5. admit
                elif not self.on_blocked(w, option, why, ctx):  # 5. preempt or reserve
                    break
        finally:
            deferred, self._deferred = self._deferred, None
            for entry in taken:  # 6. requeue: what did not start waits in its heap again
                back = self._live(entry[1], entry[2])
                if back is not None:
                    heapq.heappush(self.heaps[(back.queue, back.aged)], entry)
            for again in deferred:
                self._push(again)
            self._refresh(ctx.now)
        # wake when the next job's data arrives (or when the policy says, if sooner)
        while self.unready and self._live(self.unready[0][1], self.unready[0][2]) is None:
            heapq.heappop(self.unready)
        wake = self.unready[0][0] if self.unready else None
        other = self.wake_h(ctx.now)
        return other if wake is None or (other is not None and other < wake) else wake

    def nominate_option(
        self, w: Waiting, ctx: CycleContext, options: Sequence[Option] | None = None
    ) -> tuple[Option | None, str]:
        """The fastest ready option (of ``options``, else the job's) with room in its pool
        and its queue's quota."""
        job, milli = w.pending.job, job_milli(w.pending.job)
        best: Option | None = None
        why = "no option is ready"
        borrow = self.may_borrow(w, ctx)
        for o in w.pending.options if options is None else options:
            if o.ready_h > ctx.now + EPS:
                continue
            short = self.quota_fits(w.queue, o, milli) if self.enforce_quota else None
            if short is not None:
                why = f"queue {w.queue} has no {short} quota left (nor any to borrow)"
                continue
            if not borrow and not self.within_nominal(w.queue, o, milli):
                why = f"queue {w.queue} would borrow, and {job.id} may not borrow yet"
                continue
            if not ctx.capacity.fits_option(o, job):
                where = o.describe() if o.parts else f"{o.accelerator} at {o.site}"
                why = f"no room now on {where}"
                continue
            if best is None or (o.runtime_h, o.site) < (best.runtime_h, best.site):
                best = o
        return best, why

    def start(self, w: Waiting, option: Option, ctx: CycleContext, reason: str) -> bool:
        if not ctx.try_start(w.pending, option, reason):
            return False
        job = w.pending.job
        del self.jobs[job.id]
        self._shrink(smallest_milli(w.pending))
        placement = self.scheduler.running.get(job.id)
        if placement is None or placement.option != option:
            return True  # the rules withdrew it: the scheduler takes it in again
        self._count_held(w.queue, placement, ctx.now)
        self.after_start(w, option, ctx)
        return True

    def _count_held(self, queue: str, placement: Placement, now: float) -> None:
        """Count a running job against ``queue``: every quota share its option draws on, its
        decayed usage, and the victim index (a start beyond the quota is a violation)."""
        job, option, milli = placement.job, placement.option, job_milli(placement.job)
        if self.quota_fits(queue, option, milli) is not None:
            self.quota_violations += 1
        shares = self.shares(option, milli)
        ckpt = getattr(job, "checkpoint_h", None)
        victims: dict[str, Running] = {}
        for flavor, m in shares:
            self.book.admit(queue, flavor, m)
            self.decayed.change(now, queue, flavor, m / 1000)
            self.held_by[(flavor, queue)][job.priority][job.id] = self._started
            victims[flavor] = Running(
                job.id, queue, flavor, m, job.priority, placement.start_h, ckpt
            )
        lead, lead_milli = shares[0]
        self.held[job.id] = Held(queue, lead, lead_milli, placement, shares if option.parts else ())
        self._started += 1
        self.as_victim[job.id] = victims

    def _shrink(self, milli: int) -> None:
        self.sizes[milli] -= 1
        if not self.sizes[milli]:
            del self.sizes[milli]
        self._max_free = None  # capacity changed

    def _full(self, ctx: CycleContext) -> bool:
        """No pool has room for the smallest waiting job (nothing more can start now)."""
        if self._max_free is None:
            self._max_free = max((max(row) for row in ctx.capacity.free_milli if row), default=0)
        return not self.sizes or self._max_free < min(self.sizes)

    def _release(self, job_id: str, now: float) -> None:
        h = self.held.pop(job_id)
        del self.as_victim[job_id]
        for flavor, milli in h.each():  # every part of a split gang
            del self.held_by[(flavor, h.queue)][h.placement.job.priority][job_id]
            self.book.release(h.queue, flavor, milli)
            self.decayed.change(now, h.queue, flavor, -milli / 1000)

    def running_in(self, flavor: str, queue: str, below: int | None = None) -> dict[str, int]:
        """``queue``'s running jobs of ``flavor`` (of priority below ``below``, if given), id
        -> start order."""
        out: dict[str, int] = {}
        for prio, ids in self.held_by[(flavor, queue)].items():
            if below is None or prio < below:
                out.update(ids)
        return out

    def share(self, queue: str) -> float:
        """The queue's weighted dominant share of decayed plus current usage."""
        q = self.config.queues[queue]
        best = 0.0
        for f, cap in self.capacity_of.items():
            if cap:
                used = self.decayed.of(queue, f) + self.book.used(queue, f) / 1000
                best = max(best, used / cap)
        return best / q.weight

    # -- hooks --------------------------------------------------------------------------

    def begin_cycle(self, ctx: CycleContext) -> None:
        """Called after the snapshot, before ordering."""

    #: hours after which a waiting job moves to its queue's aged heap (None: never)
    aging_after_h: float | None = None

    def within_key(self, w: Waiting) -> Any:
        """The job's order within its (queue, aged) heap; fixed while it waits."""
        raise NotImplementedError

    def merge_key(self, w: Waiting, ctx: CycleContext) -> Any:
        """The job's key in this cycle's order; within one heap it must order jobs as
        `within_key` does (ties are broken by arrival sequence)."""
        raise NotImplementedError

    def order(self, heads: list[Waiting], ctx: CycleContext) -> list[Waiting]:
        """The cycle's order by a full sort (the reference for `ordered`)."""
        for w in heads:
            w.aged = self.aging_after_h is not None and wait_h(w, ctx.now) >= self.aging_after_h
        return sorted(heads, key=lambda w: (self.merge_key(w, ctx), w.seq))

    def may_consider(self, w: Waiting, ctx: CycleContext) -> bool:
        return True

    def may_borrow(self, w: Waiting, ctx: CycleContext) -> bool:
        """False: ``w`` may start now only within its queue's nominal quota."""
        return True

    def wake_h(self, now: float) -> float | None:
        """A time after ``now`` when the policy wants a cycle though no data arrives (None:
        none)."""
        return None

    def queue_open(self, queue: str) -> bool:
        """False: no job of ``queue`` is examined for the rest of this cycle."""
        return True

    def scan_may_stop(self) -> bool:
        """True: the scan may end once no pool can hold the smallest waiting job (the
        blocked top job already has its reservation)."""
        return False

    def may_start(self, w: Waiting, option: Option, ctx: CycleContext) -> bool:
        return True

    def admit_reason(self, w: Waiting, option: Option) -> str:
        return f"{self.name}: first in order with room in queue {w.queue}"

    def after_start(self, w: Waiting, option: Option, ctx: CycleContext) -> None:
        """Called after a job started."""

    def on_blocked(self, w: Waiting, option: Option | None, why: str, ctx: CycleContext) -> bool:
        """A job in order could not start: record why; False stops this cycle's scan."""
        w.pending.waiting_reason = why
        return False


def _by_queue(values: Mapping[tuple[str, str], float]) -> dict[str, dict[str, float]]:
    """(queue, flavor) -> value as queue -> flavor -> value (a JSON document's shape)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (queue, flavor), value in values.items():
        out[queue][flavor] = value
    return dict(out)


def smallest_milli(pending: PendingJob) -> int:
    """The least a job needs free on one pool to start: its whole size, or a split option's
    smallest part (`QueueingPolicy._full` must not stop a scan that a split gang could use)."""
    milli = job_milli(pending.job)
    for o in pending.options:
        for p in o.parts:
            milli = min(milli, to_milli(p.accelerators))
    return milli


def wait_h(w: Waiting, now: float) -> float:
    return max(0.0, now - w.since_h)


def runtime_h(w: Waiting) -> float:
    """The job's shortest expected run over its options (from its estimate, if it has one)."""
    job = w.pending.job
    fastest = min(o.runtime_h for o in w.pending.options)
    if job.estimate_h is None or job.duration_h <= 0:
        return fastest
    return fastest * job.estimate_h / job.duration_h


__all__ = ["Held", "QueueingPolicy", "Waiting", "default_config"]

"""The ``suanli`` policy: joint choice of site, pool and start time within each job's slack.

Online and greedy over a forward plan. When a job arrives (and whenever a planned start
fails), it is planned against a calendar of free capacity that holds every running job and
every plan made so far (`Calendar`):

    minimise over options o (site, pool) and start times t in T_j
        P_o * ∫_t^{t + r_o} (price_s + carbon_price * ci_s)   energy and carbon
        + transfer_o + latency_o                                 data movement, users' latency
        + penalty_j * [t + r_o > deadline_j]                     deadline
    subject to  t >= ready_o  (arrival plus data transfer)
                calendar_o has a_j free accelerators over [t, t + r_o)

with T_j = {now} ∪ {whole hours up to the latest on-time start, at most ``lookahead_h``
ahead}. Candidates are ranked by that cost plus a scarcity price for the accelerator-hours
they take, ``a_j * r_o * ψ(z)``, where ``z`` is how full the pool's calendar would be over
the run and ``ψ(z) = (L / e) (U e / L)^z`` (the threshold function of online knapsack
algorithms, L = ``scarcity_low``, U = ``scarcity_high`` yuan per accelerator-hour): the last
free accelerators of a cheap pool go to jobs that save more than the price there. The price
only steers the choice; the cost charged is the real one.

The job with the least slack is planned first. A job planned for now starts now (if its nodes
have room; otherwise the other options are tried); a job planned for later keeps its
reservation and starts when its hour comes. A job that cannot meet its deadline anywhere
takes the earliest feasible finish. Nothing about future arrivals is used.

A gang split across sites (an option with ``parts``) is one more candidate: its energy term is
the sum over its parts of ``P_part * ∫ rate_site``, it needs room on every part's pool over its
run, its scarcity price is the sum of the parts' and its reservation holds every part's pool.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from suanli.core.cost import FloatArray
from suanli.core.options import Option
from suanli.core.policies.calendar import SLOTS_PER_HOUR, Calendar
from suanli.core.scheduler import CycleContext, PendingJob, Placement, Policy, Scheduler

EPS = 1e-9
#: a run that ends this much (hours) or more before its planned end gives back the rest of
#: its slots; less is its planned end (a simulated finish lands there, give or take the
#: engine's instant), and releasing there would free the slot after it
ENDED_EARLY_H = 1e-6
#: a run still running past its planned end (a service's run ends when it ends) holds its
#: pool in the calendar this much longer at a time (one slot), from the end of its last hold
OVERRUN_STEP_H = 1.0 / SLOTS_PER_HOUR
#: a vanishing cost of waiting, so that of two equal plans the earlier start wins
TIE_YUAN_PER_H = 1e-6


def _cumulative_at(rows: FloatArray, x: FloatArray) -> FloatArray:
    """``rows[i]`` (values on the whole hours 0..h) linearly interpolated at ``x[i]`` (in [0, h]).

    The same figures as ``numpy.interp(x[i], arange(h + 1), rows[i])`` row by row (the grid's
    spacing is 1, so the slope is the difference of neighbours), in one vectorized step: this
    is the inner loop of every plan's energy cost.
    """
    last = rows.shape[1] - 2
    i = np.minimum(x.astype(np.int64), last)
    lo = np.take_along_axis(rows, i, axis=1)
    hi = np.take_along_axis(rows, i + 1, axis=1)
    return np.asarray((hi - lo) * (x - i) + lo, dtype=np.float64)


class SuanliPolicy(Policy):
    name = "suanli"

    def __init__(
        self,
        lookahead_h: int = 168,
        scarcity_low: float = 0.05,
        scarcity_high: float = 5.0,
        max_checks: int = 64,
    ) -> None:
        self.lookahead_h = lookahead_h
        self.scarcity_low = scarcity_low
        self.scarcity_high = scarcity_high
        self.max_checks = max_checks

    def bind(self, scheduler: Scheduler) -> None:
        super().bind(scheduler)
        scenario = scheduler.scenario
        self.pool_index: dict[tuple[int, int], int] = {}
        caps: list[float] = []
        for i, sid in enumerate(scenario.site_ids):
            for k, pool in enumerate(scenario.sites[sid].pools):
                self.pool_index[(i, k)] = len(caps)
                caps.append(float(pool.accelerators))
        self.calendar = Calendar(caps, scheduler.cost.horizon_h)
        self.capacity = caps
        self.planned: dict[str, PendingJob] = {}
        self.due: list[tuple[float, int, str]] = []
        self.replan: list[PendingJob] = []
        self._seq = 0
        #: (end of its hold in the calendar, job id) of every run this policy knows of: a run
        #: still running there is held one more slot (`_hold_overruns`)
        self.holds: list[tuple[float, str]] = []
        #: job id -> end of the hold of a run held past its planned end
        self.held_until: dict[str, float] = {}
        #: pools whose plans gave reservations back since the last cycle (`withdraw`)
        self.withdrawn_from: set[int] = set()

    # -- events -------------------------------------------------------------------------

    def on_arrival(self, pending: PendingJob, ctx: CycleContext) -> None:
        self.replan.append(pending)

    def on_finish(self, placement: Placement, ctx: CycleContext) -> None:
        """A run that ended before its planned end (the service's runs end when they end: a
        cancel, a run shorter than planned) gives back the rest of its slots; at its planned
        end (every run in the simulator) the calendar has nothing left to free."""
        end = self.held_until.pop(placement.job.id, placement.end_h)
        if end - ctx.now <= ENDED_EARLY_H:
            return
        freed = set()
        for g, a in self._pieces(placement.option, placement.job.accelerators):
            self.calendar.release(g, ctx.now, end, a)
            freed.add(g)
        self._replan_on(freed, ctx.now)

    def _replan_on(self, pools: set[int], now: float) -> None:
        """Jobs planned to start later on any of ``pools``, and jobs that found no room and
        wait to plan again, are planned again in this cycle (a plan gives its reservation
        back first): room freed early may let them start sooner, or their cheap hours keep
        them where they were. Their entries in ``due`` go stale."""
        for job_id, pending in list(self.planned.items()):
            option = pending.plan
            if pending.plan_start <= now + EPS:
                continue  # due in this cycle anyway
            if option is not None:
                pieces = self._pieces(option, pending.job.accelerators)
                if not any(g in pools for g, _ in pieces):
                    continue
                start = pending.plan_start
                for g, a in pieces:
                    self.calendar.release(g, start, start + option.runtime_h, a)
                pending.plan = None
            del self.planned[job_id]
            self.replan.append(pending)

    def on_restored(self, placement: Placement) -> None:
        """A job running before a restart (`Scheduler.restore`) holds its slots until its
        planned end again, so what waits is planned around it rather than tried now."""
        for g, a in self._pieces(placement.option, placement.job.accelerators):
            self.calendar.reserve(g, placement.start_h, placement.end_h, a)
        heapq.heappush(self.holds, (placement.end_h, placement.job.id))

    def _hold_overruns(self, now: float) -> None:
        """Every run whose hold has ended but which still runs holds its pools one slot
        more, from the slot after its last hold: what waits is planned after it, not into
        capacity it still occupies. A run that has ended drops out (its finish came first)."""
        running = self.scheduler.running
        while self.holds and self.holds[0][0] <= now + EPS:
            end, job_id = heapq.heappop(self.holds)
            placement = running.get(job_id)
            if placement is None or self.held_until.get(job_id, placement.end_h) != end:
                continue  # ended, or a stale entry of an earlier run
            frm = math.ceil(end * SLOTS_PER_HOUR - 1e-9) / SLOTS_PER_HOUR
            to = math.ceil((now + OVERRUN_STEP_H) * SLOTS_PER_HOUR - 1e-9) / SLOTS_PER_HOUR
            for g, a in self._pieces(placement.option, placement.job.accelerators):
                self.calendar.reserve(g, frm, to, a)
            self.held_until[job_id] = to
            heapq.heappush(self.holds, (to, job_id))

    def waiting(self) -> int:
        return len(self.planned) + len(self.replan)

    def withdraw(self, job_id: str) -> bool:
        """A planned job gives its reservation back to the calendar at once (as a failed
        start does, `_start`); its entry in ``due`` is then stale and skipped. The jobs
        planned later on its pools are planned again in the next cycle (`_replan_on`)."""
        pending = self.planned.pop(job_id, None)
        if pending is not None:
            option = pending.plan
            if option is not None:
                start = pending.plan_start
                for g, a in self._pieces(option, pending.job.accelerators):
                    self.calendar.release(g, start, start + option.runtime_h, a)
                    self.withdrawn_from.add(g)
                pending.plan = None
            return True
        at = next((i for i, p in enumerate(self.replan) if p.job.id == job_id), None)
        if at is None:
            return False
        del self.replan[at]  # not planned yet: it holds nothing
        return True

    # -- the cycle ------------------------------------------------------------------------

    def nominate(self, ctx: CycleContext) -> float | None:
        now = ctx.now
        self._hold_overruns(now)
        if self.withdrawn_from:
            self._replan_on(self.withdrawn_from, now)
            self.withdrawn_from = set()
        while self.due and self.due[0][0] <= now + EPS:
            start, _, job_id = heapq.heappop(self.due)
            pending = self.planned.get(job_id)
            if pending is None or pending.plan_start != start:
                continue  # withdrawn (its entry outlived it), or held again since
            del self.planned[job_id]
            if pending.plan is None or not self._start(
                pending, pending.plan, ctx, "planned start reached"
            ):
                self.replan.append(pending)
        todo, self.replan = self.replan, []
        todo.sort(key=lambda p: (p.latest_start, p.job.arrival_h, p.job.id))
        for pending in todo:
            self._plan(pending, ctx)
        return self.due[0][0] if self.due else None

    def _pieces(self, option: Option, a: float) -> list[tuple[int, float]]:
        """(calendar row, accelerators) of every pool ``option`` takes (a split gang's parts)."""
        if not option.parts:
            return [(self.pool_index[(option.site_idx, option.pool)], a)]
        return [(self.pool_index[(p.site_idx, p.pool)], p.accelerators) for p in option.parts]

    def _start(self, pending: PendingJob, option: Option, ctx: CycleContext, why: str) -> bool:
        """Start a planned job now; on failure its reservation is dropped."""
        pieces = self._pieces(option, pending.job.accelerators)
        start = pending.plan_start
        for g, a in pieces:
            self.calendar.release(g, start, start + option.runtime_h, a)
            self.calendar.reserve(g, ctx.now, ctx.now + option.runtime_h, a)
        if ctx.try_start(pending, option, why):
            heapq.heappush(self.holds, (ctx.now + option.runtime_h, pending.job.id))
            return True
        for g, a in pieces:
            self.calendar.release(g, ctx.now, ctx.now + option.runtime_h, a)
        pending.plan = None
        return False

    def _plan(self, pending: PendingJob, ctx: CycleContext) -> None:
        job = pending.job
        now = ctx.now
        blocked: set[tuple[int, int, bool]] = set()
        while True:
            choice = self._best(pending, now, blocked)
            if choice is None:
                # nothing fits within the look-ahead: try again in an hour
                self._hold(pending, None, now + 1.0)
                return
            option, start, why = choice
            for g, a in self._pieces(option, job.accelerators):
                self.calendar.reserve(g, start, start + option.runtime_h, a)
            pending.plan, pending.plan_start = option, start
            if start > now + EPS:
                self._hold(pending, option, start)
                pending.waiting_reason = why
                return
            if self._start(pending, option, ctx, why):
                return
            # the pool's nodes are too fragmented for it now: try the other options
            blocked.add(_key(option))

    def _hold(self, pending: PendingJob, option: Option | None, start: float) -> None:
        """Keep a job until ``start``: to start on its plan then, or (no plan) to re-plan."""
        if option is None:
            start = math.ceil(start * SLOTS_PER_HOUR - EPS) / SLOTS_PER_HOUR
            pending.plan, pending.plan_start = None, start
            pending.waiting_reason = "no room within the look-ahead; re-planning"
        self.planned[pending.job.id] = pending
        self._seq += 1
        heapq.heappush(self.due, (start, self._seq, pending.job.id))

    def _best(
        self, pending: PendingJob, now: float, blocked: set[tuple[int, int, bool]]
    ) -> tuple[Option, float, str] | None:
        """The cheapest feasible (option, start), cheapest first, checking room as it goes."""
        job = pending.job
        cost = self.scheduler.cost
        opts = [o for o in pending.options if _key(o) not in blocked]
        if not opts:
            return None
        first_hour = math.floor(now) + 1
        latest = pending.latest_start
        span = int(min(self.lookahead_h, max(0.0, latest - now))) if latest > now else 0
        hours = np.arange(first_hour, first_hour + span, dtype=np.float64)
        ready = np.array([o.ready_h for o in opts])
        runtime = np.array([o.runtime_h for o in opts])
        starts = np.maximum(np.concatenate([[now], hours])[None, :], ready[:, None])
        ends = starts + runtime[:, None]
        site = np.array([o.site_idx for o in opts])
        rate = cost.cum_rate
        h = cost.horizon_h
        # a plan must end inside the cost model's horizon (beyond it, nothing is priced)
        beyond = ends >= h
        ends_c = np.minimum(ends, h)
        starts_c = np.minimum(starts, h)
        row = rate[site]
        e = _cumulative_at(row, ends_c) - _cumulative_at(row, starts_c)
        power = np.array([o.power_kw for o in opts])
        fixed = np.array([o.fixed_yuan for o in opts])
        total = power[:, None] * e + fixed[:, None]
        for i, o in enumerate(opts):
            if o.parts:  # a split gang: each part's energy at its own site
                span_e = np.zeros(total.shape[1])
                for part in o.parts:
                    r1 = rate[[part.site_idx]]
                    de = _cumulative_at(r1, ends_c[i : i + 1]) - _cumulative_at(
                        r1, starts_c[i : i + 1]
                    )
                    span_e += part.power_kw * de[0]
                total[i] = span_e + fixed[i]
        total[beyond] = np.inf
        late = np.zeros_like(total, dtype=bool)
        if job.deadline_h is not None:
            late = ends > job.deadline_h + 1e-6
            total = total + late * cost.penalty_yuan(job)
        # equal costs (to rounding) go to the earlier start
        key = total + TIE_YUAN_PER_H * (starts - now)
        order = np.argsort(key, axis=None, kind="stable")
        on_time_exists = bool((~late).any())
        cal = self.calendar
        a = job.accelerators
        best: tuple[float, int, int, float] | None = None  # (adjusted cost, i, k, shadow)
        checked = 0
        for flat in order:
            i, k = divmod(int(flat), total.shape[1])
            if (on_time_exists and late[i, k]) or beyond[i, k]:
                break
            if best is not None and (key[i, k] >= best[0] or checked >= self.max_checks):
                break  # shadow costs are >= 0: nothing later can beat the best adjusted cost
            o = opts[i]
            t = float(starts[i, k])
            room = [
                (g, part, cal.min_free(g, t, t + o.runtime_h)) for g, part in self._pieces(o, a)
            ]
            if any(free < part - 1e-9 for _, part, free in room):
                continue
            checked += 1
            shadow = sum(
                self._shadow(g, free - part) * part * o.runtime_h for g, part, free in room
            )
            if best is None or key[i, k] + shadow < best[0]:
                best = (float(key[i, k]) + shadow, i, k, shadow)
        if best is None:
            return self._earliest(pending, opts, now)
        _, i, k, shadow = best
        t = float(starts[i, k])
        when = "now" if t <= now + EPS else f"at {t:.2f} h"
        return (
            opts[i],
            t,
            f"least cost within slack: {total[i, k]:.1f} yuan (+{shadow:.1f} scarcity), "
            f"start {when}",
        )

    def _shadow(self, pool: int, free_after: float) -> float:
        """Scarcity price (yuan per accelerator-hour) of a pool left with ``free_after``."""
        if self.scarcity_high <= 0:
            return 0.0
        z = 1.0 - free_after / self.capacity[pool]
        low = self.scarcity_low
        return float(low / math.e * (self.scarcity_high * math.e / low) ** z)

    def _earliest(
        self, pending: PendingJob, opts: list[Option], now: float
    ) -> tuple[Option, float, str] | None:
        """No on-time plan exists: the earliest start anywhere within the look-ahead."""
        cal = self.calendar
        a = pending.job.accelerators
        best: tuple[float, float, int] | None = None
        for i, o in enumerate(opts):
            t0 = max(now, o.ready_h)
            a0, _ = cal.span(t0, t0)
            need = max(1, math.ceil(o.runtime_h * SLOTS_PER_HOUR))
            limit = min(cal.slots, a0 + self.lookahead_h * SLOTS_PER_HOUR + need)
            row = np.logical_and.reduce(
                [cal.free[g, a0:limit] >= part - 1e-9 for g, part in self._pieces(o, a)]
            )
            if len(row) < need:
                continue
            # first slot index from which `need` consecutive slots are free
            run = np.convolve(row.astype(np.int32), np.ones(need, dtype=np.int32), "valid")
            hits = np.flatnonzero(run >= need)
            if len(hits) == 0:
                continue
            t = t0 if hits[0] == 0 else (a0 + int(hits[0])) / SLOTS_PER_HOUR
            end = t + o.runtime_h
            if best is None or (end, t, i) < best:
                best = (end, t, i)
        if best is None:
            return None
        end, t, i = best
        return opts[i], t, "cannot meet its deadline anywhere; earliest finish"


def _key(option: Option) -> tuple[int, int, bool]:
    """An option's identity among one job's options: its pool, and whether it is split."""
    return (option.site_idx, option.pool, bool(option.parts))

"""Baseline policies: pick a site when the job arrives, then each site serves its queue first
come, first served (strict FCFS: a blocked head blocks the queue behind it).

* ``nearest``  - the data's home site (else the feasible site nearest to it): each site
  scheduling alone, as the network runs today.
* ``cheapest`` - the feasible site with the lowest electricity price now, preferring sites with
  room now (SkyPilot's optimizer picks the cheapest location for the hour in the same way).
* ``greenest`` - the feasible site with the lowest grid carbon intensity now, preferring sites
  with room now (as Carbon Aware SDK's "best location now" does).

A gang split across sites (an option with ``parts``) is queued at its largest part's site and
ranked by that site's figures; it starts when every part's pool has room.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

from suanli.core.options import Option
from suanli.core.scheduler import CycleContext, PendingJob, Placement, Policy, Scheduler


class SiteQueuePolicy(Policy):
    """Choose a site on arrival; every site then runs its own FCFS queue."""

    def bind(self, scheduler: Scheduler) -> None:
        super().bind(scheduler)
        n = len(scheduler.scenario.sites)
        self.queues: list[deque[PendingJob]] = [deque() for _ in range(n)]
        self.dirty: set[int] = set()
        self.wakes: list[tuple[float, int]] = []

    def choose(self, pending: PendingJob, ctx: CycleContext) -> tuple[Option, str]:
        raise NotImplementedError

    def on_arrival(self, pending: PendingJob, ctx: CycleContext) -> None:
        option, reason = self.choose(pending, ctx)
        pending.plan = option
        pending.waiting_reason = reason
        self.queues[option.site_idx].append(pending)
        self.dirty.add(option.site_idx)

    def on_finish(self, placement: Placement, ctx: CycleContext) -> None:
        freed = {i for i, _, _ in placement.option.pools}
        self.dirty.update(freed)
        # a split gang at the head of another site's queue may be waiting for these pools
        for s, q in enumerate(self.queues):
            head = q[0].plan if q else None
            if head is not None and head.parts and freed & {p.site_idx for p in head.parts}:
                self.dirty.add(s)

    def nominate(self, ctx: CycleContext) -> float | None:
        while self.wakes and self.wakes[0][0] <= ctx.now + 1e-9:
            self.dirty.add(heapq.heappop(self.wakes)[1])
        for s in sorted(self.dirty):
            q = self.queues[s]
            while q:
                head = q[0]
                assert head.plan is not None
                if head.plan.ready_h > ctx.now + 1e-9:
                    heapq.heappush(self.wakes, (head.plan.ready_h, s))
                    break
                if not ctx.try_start(head, head.plan, head.waiting_reason):
                    break
                q.popleft()
        self.dirty.clear()
        return self.wakes[0][0] if self.wakes else None

    def waiting(self) -> int:
        return sum(len(q) for q in self.queues)

    def withdraw(self, job_id: str) -> bool:
        """Leave the site's queue; if it was the head, the next one is tried next cycle."""
        for s, q in enumerate(self.queues):
            for i, pending in enumerate(q):
                if pending.job.id == job_id:
                    del q[i]
                    self.dirty.add(s)
                    return True
        return False

    def has_room(self, pending: PendingJob, o: Option, ctx: CycleContext) -> bool:
        """The job would start at once: nobody queued there and its pool has room."""
        return not self.queues[o.site_idx] and ctx.capacity.fits_option(o, pending.job)


def _at_site(
    policy: SiteQueuePolicy, pending: PendingJob, options: list[Option], ctx: CycleContext
) -> Option:
    """Among options at one site: one with room now if any, then the fastest."""
    return min(options, key=lambda o: (not policy.has_room(pending, o, ctx), o.runtime_h, o.pool))


class NearestPolicy(SiteQueuePolicy):
    name = "nearest"

    def choose(self, pending: PendingJob, ctx: CycleContext) -> tuple[Option, str]:
        home = pending.job.data.site
        here = [o for o in pending.options if o.site == home]
        if here:
            return _at_site(self, pending, here, ctx), f"runs where its data lives ({home})"
        nearest = min(pending.options, key=lambda o: (o.transfer_gb > 0, o.ready_h, o.site))
        same = [o for o in pending.options if o.site == nearest.site]
        return (
            _at_site(self, pending, same, ctx),
            f"home site {home} cannot take it; {nearest.site} is the nearest that can",
        )


class _NowRankedPolicy(SiteQueuePolicy):
    """Ranks sites by an hourly series now; a site with room now wins over one without."""

    series = "price"
    unit = ""

    def choose(self, pending: PendingJob, ctx: CycleContext) -> tuple[Option, str]:
        hour = min(math.floor(ctx.now), ctx.cost.horizon_h - 1)
        values = getattr(ctx.cost, self.series)[:, hour]

        def key(o: Option) -> tuple[bool, float, float, str]:
            return (
                not self.has_room(pending, o, ctx),
                float(values[o.site_idx]),
                o.runtime_h,
                o.site,
            )

        best = min(pending.options, key=key)
        room = "with room now" if self.has_room(pending, best, ctx) else "none had room; queued"
        return best, f"lowest {self.series} now ({values[best.site_idx]:.3f} {self.unit}, {room})"


class CheapestPolicy(_NowRankedPolicy):
    name = "cheapest"
    series = "price"
    unit = "yuan/kWh"


class GreenestPolicy(_NowRankedPolicy):
    name = "greenest"
    series = "carbon"
    unit = "kgCO2/kWh"

"""A reservation for the highest-ranked blocked job, and the backfill rule that protects it.

Slurm's backfill scheduler (``sched/backfill``, slurm.conf ``SchedulerType``): the first job in
priority order that cannot start gets a reservation at the earliest time its pool frees enough
accelerators, counting the running jobs' expected ends; a lower-ranked job may start now only
if it cannot delay that reservation: it runs on another pool, or it ends before the reserved
start.

A split gang across sites is reserved on every part's pool: its start is the latest of the
parts' earliest starts, and a backfilled job may not delay it on any of those pools.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from suanli.core.capacity import MILLI, NetworkCapacity, job_milli, to_milli
from suanli.core.options import Option
from suanli.core.scheduler import Placement
from suanli.model import Job

EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Reservation:
    job_id: str
    site_idx: int
    pool: int
    start_h: float
    #: every (site index, pool) it holds (a split gang's parts; else just its pool)
    pools: frozenset[tuple[int, int]] = frozenset()

    def holds(self, site_idx: int, pool: int) -> bool:
        key = (site_idx, pool)
        return key in self.pools if self.pools else key == (self.site_idx, self.pool)


def reserve(
    job: Job,
    options: Iterable[Option],
    running: Iterable[Placement],
    capacity: NetworkCapacity,
    now: float,
) -> Reservation | None:
    """The earliest start over ``job``'s options, counting free milli-accelerators as the
    running jobs end (None: no option could ever hold it)."""
    ends: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for p in running:
        for g in p.grant.pieces():
            ends.setdefault((g.site_idx, g.pool), []).append((p.end_h, g.milli))
    best: Reservation | None = None
    for o in options:
        t: float | None = max(now, o.ready_h)
        for site_idx, pool, a in o.pools:
            need = job_milli(job) if not a else to_milli(a)
            at = _earliest(need, capacity, ends, site_idx, pool)
            t = None if at is None or t is None else max(t, at)
        if t is None:
            continue
        if best is None or t + o.runtime_h < best.start_h + EPS or t < best.start_h - EPS:
            pools = frozenset((i, k) for i, k, _ in o.pools) if o.parts else frozenset()
            best = Reservation(job.id, o.site_idx, o.pool, t, pools)
    return best


def _earliest(
    need: int,
    capacity: NetworkCapacity,
    ends: dict[tuple[int, int], list[tuple[float, int]]],
    site_idx: int,
    pool: int,
) -> float | None:
    """When ``need`` milli are free on one pool, counting the running jobs' ends (0: now;
    None: never)."""
    if need > capacity.total_milli[site_idx][pool]:
        return None
    free = capacity.free_milli[site_idx][pool]
    if free >= need:
        return 0.0
    for end, milli in sorted(ends.get((site_idx, pool), [])):
        free += milli
        if free >= need:
            return end
    return None


def rule_backfill_never_delays_the_reservation(
    res: Reservation | None, option: Option, now: float
) -> bool:
    """Slurm backfill: start now only on other pools or when done before the reserved start."""
    if res is None or not any(res.holds(i, k) for i, k, _ in option.pools):
        return True
    return now + option.runtime_h <= res.start_h + EPS


__all__ = ["MILLI", "Reservation", "reserve", "rule_backfill_never_delays_the_reservation"]

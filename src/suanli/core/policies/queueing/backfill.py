"""A reservation for the highest-ranked blocked job, and the backfill rule that protects it.

Slurm's backfill scheduler (``sched/backfill``, slurm.conf ``SchedulerType``): the first job in
priority order that cannot start gets a reservation at the earliest time its pool frees enough
accelerators, counting the running jobs' expected ends; a lower-ranked job may start now only
if it cannot delay that reservation: it runs on another pool, or it ends before the reserved
start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from suanli.core.capacity import MILLI, NetworkCapacity, job_milli
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


def reserve(
    job: Job,
    options: Iterable[Option],
    running: Iterable[Placement],
    capacity: NetworkCapacity,
    now: float,
) -> Reservation | None:
    """The earliest start over ``job``'s options, counting free milli-accelerators as the
    running jobs end (None: no option could ever hold it)."""
    need = job_milli(job)
    ends: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for p in running:
        key = (p.grant.site_idx, p.grant.pool)
        ends.setdefault(key, []).append((p.end_h, p.grant.milli))
    best: Reservation | None = None
    for o in options:
        free = capacity.free_milli[o.site_idx][o.pool]
        if need > capacity.total_milli[o.site_idx][o.pool]:
            continue
        t = max(now, o.ready_h)
        if free < need:
            for end, milli in sorted(ends.get((o.site_idx, o.pool), [])):
                free += milli
                if free >= need:
                    t = max(t, end)
                    break
            else:
                continue
        if best is None or t + o.runtime_h < best.start_h + EPS or t < best.start_h - EPS:
            best = Reservation(job.id, o.site_idx, o.pool, t)
    return best


def rule_backfill_never_delays_the_reservation(
    res: Reservation | None, option: Option, now: float
) -> bool:
    """Slurm backfill: start now only on another pool or when done before the reserved start."""
    if res is None or (option.site_idx, option.pool) != (res.site_idx, res.pool):
        return True
    return now + option.runtime_h <= res.start_h + EPS


__all__ = ["MILLI", "Reservation", "reserve", "rule_backfill_never_delays_the_reservation"]

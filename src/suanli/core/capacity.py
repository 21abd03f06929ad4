"""Free capacity of every pool in the network, as the scheduler commits work to it."""

from __future__ import annotations

from dataclasses import dataclass

from suanli.model import Job, Scenario

MILLI = 1000


@dataclass(frozen=True, slots=True)
class Grant:
    """Capacity held by one running job; give it back with `NetworkCapacity.release`."""

    site_idx: int
    pool: int
    milli: int


def job_milli(job: Job) -> int:
    """A job's demand in milli-accelerators (a share of one GPU counts as its fraction)."""
    return max(1, round(job.accelerators * MILLI))


class NetworkCapacity:
    """Free milli-accelerators per (site, pool)."""

    def __init__(self, scenario: Scenario) -> None:
        self.site_ids = scenario.site_ids
        self.total_milli: list[list[int]] = [
            [p.accelerators * MILLI for p in scenario.sites[s].pools] for s in self.site_ids
        ]
        self.free_milli: list[list[int]] = [list(row) for row in self.total_milli]

    def fits(self, site_idx: int, pool: int, job: Job) -> bool:
        return self.free_milli[site_idx][pool] >= job_milli(job)

    def allocate(self, site_idx: int, pool: int, job: Job) -> Grant | None:
        need = job_milli(job)
        if self.free_milli[site_idx][pool] < need:
            return None
        self.free_milli[site_idx][pool] -= need
        return Grant(site_idx, pool, need)

    def release(self, grant: Grant) -> None:
        self.free_milli[grant.site_idx][grant.pool] += grant.milli

    def free(self, site_idx: int, pool: int) -> float:
        return self.free_milli[site_idx][pool] / MILLI

    def total(self, site_idx: int, pool: int) -> float:
        return self.total_milli[site_idx][pool] / MILLI

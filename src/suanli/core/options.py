"""Where a job may run at all: its feasible (site, pool) options and why every other site is out.

Static feasibility only (it does not change while the job waits): the rules
(`suanli.core.rules`), accelerator types, pool size and the latency SLO. Free capacity is
the policies' concern.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.core.cost import CostModel
from suanli.core.rules import INTERIM_RULES, SiteRules, Verdict
from suanli.model import Job


@dataclass(frozen=True, slots=True)
class Option:
    """One way to run a job: a pool at a site, with the job's figures there."""

    site: str
    site_idx: int
    pool: int
    accelerator: str
    runtime_h: float
    power_kw: float
    #: earliest start: arrival plus the time to move the data here
    ready_h: float
    transfer_gb: float
    latency_ms: float
    #: cost that does not depend on the start time: transfer plus latency
    fixed_yuan: float


@dataclass(slots=True)
class Feasibility:
    options: list[Option]
    #: site id -> why the job cannot run there
    excluded: dict[str, str]


def feasibility(job: Job, model: CostModel, rules: SiteRules = INTERIM_RULES) -> Feasibility:
    """Every feasible option of ``job`` and a reason for each site it cannot use."""
    scenario = model.scenario
    scenario.site(job.data.site)  # an unknown home site is an error, not an exclusion
    options: list[Option] = []
    excluded: dict[str, str] = {}
    costs = scenario.costs
    for idx, sid in enumerate(model.site_ids):
        site = scenario.sites[sid]
        verdict = rules.check(job, site, scenario)
        if verdict.verdict is Verdict.DENY:
            excluded[sid] = str(verdict)
            continue
        lat = model.latency_ms(job, sid)
        if (
            job.latency_slo_ms is not None
            and job.users_site is not None
            and (lat > job.latency_slo_ms)
        ):
            excluded[sid] = (
                f"latency: {lat:.1f} ms one-way to users at {job.users_site} exceeds the "
                f"SLO of {job.latency_slo_ms:g} ms"
            )
            continue
        pools = [(k, p) for k, p in enumerate(site.pools) if p.accelerator in job.types]
        if not pools:
            have = ", ".join(sorted({p.accelerator for p in site.pools}))
            excluded[sid] = f"accelerators: site has {have}; job accepts {', '.join(job.types)}"
            continue
        big = [(k, p) for k, p in pools if p.accelerators >= job.accelerators]
        if not big:
            largest = max(p.accelerators for _, p in pools)
            excluded[sid] = (
                f"size: job needs {job.accelerators:g} accelerators, the largest acceptable "
                f"pool has {largest}"
            )
            continue
        gb, transfer_yuan, transfer_h = model.transfer(job, sid)
        for k, pool in big:
            r = model.runtime_h(job, pool.accelerator)
            latency_yuan = (
                costs.latency_yuan_per_gpu_h_ms * job.accelerators * r * lat
                if job.users_site is not None
                else 0.0
            )
            options.append(
                Option(
                    site=sid,
                    site_idx=idx,
                    pool=k,
                    accelerator=pool.accelerator,
                    runtime_h=r,
                    power_kw=model.power_kw(job, pool.accelerator, sid),
                    ready_h=job.arrival_h + transfer_h,
                    transfer_gb=gb,
                    latency_ms=lat,
                    fixed_yuan=transfer_yuan + latency_yuan,
                )
            )
    return Feasibility(options, excluded)

"""Where a job may run at all: its feasible (site, pool) options and why every other site is out.

Static feasibility only (it does not change while the job waits): the rules
(`suanli.core.rules`), accelerator types, pool size and the latency SLO. Free capacity is
the policies' concern.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.core.cost import CostModel
from suanli.core.rules import INTERIM_RULES, SiteRules, Verdict
from suanli.model import Job, JobKind


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


class FeasibilityCheck:
    """Feasibility of many jobs on one cost model and rule set, fast.

    The site screen (rules, latency, accelerator types, pool sizes) is cached per screening
    key: the fields it depends on, extended by ``rules.cache_key(job)`` when the rules offer
    one (rules without it are asked about every job). The per-option figures are computed
    for every job.
    """

    def __init__(self, model: CostModel, rules: SiteRules = INTERIM_RULES) -> None:
        self.model = model
        self.rules = rules
        scenario = model.scenario
        self._key_of = getattr(rules, "cache_key", None)
        self._screens: dict[
            tuple[object, ...], tuple[list[tuple[int, int, str, float]], dict[str, str]]
        ] = {}
        self._power = {n: a.power_kw.value for n, a in scenario.catalog.items()}
        self._speed = {
            n: (a.throughput(False), a.throughput(True)) for n, a in scenario.catalog.items()
        }
        self._pue = [scenario.sites[s].pue for s in model.site_ids]

    def __call__(self, job: Job) -> Feasibility:
        model = self.model
        scenario = model.scenario
        scenario.site(job.data.site)  # an unknown home site is an error, not an exclusion
        key_extra = self._key_of(job) if self._key_of is not None else None
        key = (
            job.data.site,
            job.data.classification,
            job.types,
            job.accelerators,
            job.users_site,
            job.latency_slo_ms,
            key_extra,
        )
        screen = self._screens.get(key) if key_extra is not None else None
        if screen is None:
            screen = self._screen(job)
            if key_extra is not None:
                self._screens[key] = screen
        eligible, excluded = screen
        a = job.accelerators
        online = job.kind is JobKind.ONLINE_INFERENCE
        inference = 1 if job.kind.inference else 0
        lat_price = scenario.costs.latency_yuan_per_gpu_h_ms if job.users_site else 0.0
        options: list[Option] = []
        transfer: dict[int, tuple[float, float, float]] = {}
        for idx, k, acc, lat in eligible:
            sid = model.site_ids[idx]
            if idx not in transfer:
                transfer[idx] = model.transfer(job, sid)
            gb, transfer_yuan, transfer_h = transfer[idx]
            r = job.duration_h if online else job.duration_h / self._speed[acc][inference]
            options.append(
                Option(
                    site=sid,
                    site_idx=idx,
                    pool=k,
                    accelerator=acc,
                    runtime_h=r,
                    power_kw=a * self._power[acc] * self._pue[idx],
                    ready_h=job.arrival_h + transfer_h,
                    transfer_gb=gb,
                    latency_ms=lat,
                    fixed_yuan=transfer_yuan + lat_price * a * r * lat,
                )
            )
        return Feasibility(options, dict(excluded))

    def _screen(self, job: Job) -> tuple[list[tuple[int, int, str, float]], dict[str, str]]:
        """(site index, pool index, type, latency) of every pool the job may use, and why
        every other site is out."""
        model = self.model
        scenario = model.scenario
        eligible: list[tuple[int, int, str, float]] = []
        excluded: dict[str, str] = {}
        for idx, sid in enumerate(model.site_ids):
            site = scenario.sites[sid]
            verdict = self.rules.check(job, site, scenario)
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
                    f"size: job needs {job.accelerators:g} accelerators, the largest "
                    f"acceptable pool has {largest}"
                )
                continue
            eligible.extend((idx, k, p.accelerator, lat) for k, p in big)
        return eligible, excluded


def feasibility(job: Job, model: CostModel, rules: SiteRules = INTERIM_RULES) -> Feasibility:
    """Every feasible option of ``job`` and a reason for each site it cannot use."""
    return FeasibilityCheck(model, rules)(job)

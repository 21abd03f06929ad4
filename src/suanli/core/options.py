"""Where a job may run at all: its feasible (site, pool) options and why every other site is out.

Static feasibility only (it does not change while the job waits): the rules
(`suanli.core.rules`), accelerator types, pool size and the latency SLO. Free capacity is
the policies' concern.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass

from suanli.core.cost import CostModel
from suanli.core.rules import INTERIM_RULES, RuleResult, SiteRules, Verdict
from suanli.model import Job, JobKind, Site


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
    #: sites whose rule verdicts depend on the rules' state and are not applied yet, each as
    #: (site index, why the site is out even if the rules allow it, or None): `options` and
    #: `excluded` are then the rest of the screen's answer, and `FeasibilityCheck.resolve`
    #: completes it. Empty: the answer is final.
    unresolved: tuple[tuple[int, str | None], ...] = ()


#: a pool a job may use: site index, pool index, type, latency (ms), the type's power (kW) and
#: throughput (training, inference), the site's PUE
_Pool = tuple[int, int, str, float, float, float, tuple[float, float]]


@dataclass(frozen=True, slots=True)
class _Screen:
    """The screen of one screening key: what does not depend on the rules' state."""

    #: (site index, pool index, type, latency) of every pool the job may use, including the
    #: pools at `unresolved` sites that pass the screen's other tests
    eligible: list[_Pool]
    #: site id -> why it is out, for the sites whose verdicts do not depend on state
    excluded: dict[str, str]
    unresolved: tuple[tuple[int, str | None], ...]


class FeasibilityCheck:
    """Feasibility of many jobs on one cost model and rule set, fast.

    The site screen (rules, latency, accelerator types, pool sizes) is cached per screening
    key: the fields it depends on, extended by the rules' key. Rules with
    ``screen_key(job) -> (key, site ids)`` name the sites whose verdicts depend on their
    state (cumulative volumes, approvals): the screen caches every other site's verdict and
    `resolve` asks the rules about those sites for each job. Rules with only
    ``cache_key(job)`` are cached whole when it returns a key, and asked about every site of
    every job when it returns None (as are rules with neither). The per-option figures are
    computed for every job.
    """

    def __init__(self, model: CostModel, rules: SiteRules = INTERIM_RULES) -> None:
        self.model = model
        self.rules = rules
        scenario = model.scenario
        self._split: Callable[[Job], tuple[Hashable, Collection[str]]] | None = getattr(
            rules, "screen_key", None
        )
        self._key_of: Callable[[Job], Hashable | None] | None = getattr(rules, "cache_key", None)
        self._screens: dict[tuple[object, ...], _Screen] = {}
        self._power = {n: a.power_kw.value for n, a in scenario.catalog.items()}
        self._speed = {
            n: (a.throughput(False), a.throughput(True)) for n, a in scenario.catalog.items()
        }
        self._pue = [scenario.sites[s].pue for s in model.site_ids]
        self._all = frozenset(model.site_ids)
        #: per-site parts of screens, and one copy of each reason text and excluded map: most
        #: jobs share them, and the runs' traces keep them (memory, not speed)
        self._pools: dict[tuple[object, ...], tuple[list[_Pool], str | None]]
        self._pools = {}
        self._texts: dict[object, str] = {}
        self._maps: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def __call__(self, job: Job) -> Feasibility:
        """Every feasible option of ``job`` and why every other site is out, now."""
        return self.resolve(self.prepare(job), job)

    def prepare(self, job: Job) -> Feasibility:
        """The part of ``job``'s feasibility that does not depend on the rules' state: final
        unless ``unresolved`` names sites for `resolve`. It holds for any state of the same
        rules, so drivers replaying one workload several times may share it."""
        model = self.model
        scenario = model.scenario
        scenario.site(job.data.site)  # an unknown home site is an error, not an exclusion
        extra: Hashable | None
        if self._split is not None:
            extra, state_sites = self._split(job)
        else:
            extra = self._key_of(job) if self._key_of is not None else None
            state_sites = () if extra is not None else self._all
        key = (
            job.data.site,
            job.data.classification,
            job.types,
            job.accelerators,
            job.users_site,
            job.latency_slo_ms,
            extra,
        )
        screen = self._screens.get(key)
        if screen is None:
            screen = self._screens[key] = self._screen(job, state_sites)
        return Feasibility(self._options(job, screen.eligible), screen.excluded, screen.unresolved)

    def resolve(self, f: Feasibility, job: Job) -> Feasibility:
        """Complete a prepared feasibility with the rules' verdicts, in their state now, at
        its unresolved sites (``f`` itself when there are none; ``f`` is not changed)."""
        if not f.unresolved:
            return f
        model = self.model
        scenario = model.scenario
        out: dict[int, str] = {}
        for idx, otherwise in f.unresolved:
            verdict = self.rules.check(job, scenario.sites[model.site_ids[idx]], scenario)
            if verdict.verdict is Verdict.DENY:
                out[idx] = self._text(verdict)
            elif otherwise is not None:
                out[idx] = otherwise
        options = [o for o in f.options if o.site_idx not in out] if out else list(f.options)
        reasons = dict(f.excluded)
        for idx, why in out.items():
            reasons[model.site_ids[idx]] = why
        # in site order, as a screen of every site writes them
        return Feasibility(options, self._map([(s, reasons[s]) for s in model.site_ids
                                               if s in reasons]))  # fmt: skip

    def _text(self, verdict: RuleResult) -> str:
        text = self._texts.get(verdict)
        if text is None:
            text = self._texts[verdict] = str(verdict)
        return text

    def _map(self, items: list[tuple[str, str]]) -> dict[str, str]:
        key = tuple(items)
        found = self._maps.get(key)
        if found is None:
            found = self._maps[key] = dict(items)
        return found

    def _options(self, job: Job, eligible: list[_Pool]) -> list[Option]:
        model = self.model
        a = job.accelerators
        duration = job.duration_h
        arrival = job.arrival_h
        online = job.kind is JobKind.ONLINE_INFERENCE
        inference = 1 if job.kind.inference else 0
        lat_price = model.scenario.costs.latency_yuan_per_gpu_h_ms if job.users_site else 0.0
        options: list[Option] = []
        # the figures of one site or one type are computed once (and shared: one float each);
        # ``eligible`` lists each site's pools together
        runtime: dict[str, float] = {}
        at = -1
        sid, gb, transfer_yuan, ready = "", 0.0, 0.0, 0.0
        for idx, k, acc, lat, kw, pue, speed in eligible:
            if idx != at:
                at, sid = idx, model.site_ids[idx]
                gb, transfer_yuan, transfer_h = model.transfer(job, sid)
                ready = arrival + transfer_h
            r = runtime.get(acc)
            if r is None:
                r = runtime[acc] = duration if online else duration / speed[inference]
            fixed = (transfer_yuan + lat_price * a * r * lat) if lat_price else transfer_yuan
            options.append(Option(sid, idx, k, acc, r, a * kw * pue, ready, gb, lat, fixed))
        return options

    def _screen(self, job: Job, state_sites: Collection[str]) -> _Screen:
        """The screen of every site but the rules at ``state_sites`` (noted as unresolved,
        with the reason the rest of the screen gives, if any)."""
        model = self.model
        scenario = model.scenario
        eligible: list[_Pool] = []
        excluded: dict[str, str] = {}
        unresolved: list[tuple[int, str | None]] = []
        for idx, sid in enumerate(model.site_ids):
            site = scenario.sites[sid]
            if sid not in state_sites:
                verdict = self.rules.check(job, site, scenario)
                if verdict.verdict is Verdict.DENY:
                    excluded[sid] = self._text(verdict)
                    continue
            pkey = (idx, job.types, job.accelerators, job.users_site, job.latency_slo_ms)
            found = self._pools.get(pkey)
            if found is None:
                pools, why = self._site_pools(job, idx, site)
                why = None if why is None else self._texts.setdefault(why, why)
                found = self._pools[pkey] = (pools, why)
            pools, why = found
            if sid in state_sites:
                unresolved.append((idx, why))
            elif why is not None:
                excluded[sid] = why
            eligible.extend(pools)
        return _Screen(eligible, self._map(list(excluded.items())), tuple(unresolved))

    def _site_pools(
        self, job: Job, idx: int, site: Site
    ) -> tuple[list[_Pool], str | None]:
        """The pools of ``site`` the job may use as far as latency, types and size go, or
        why none."""
        lat = self.model.latency_ms(job, site.id)
        if job.latency_slo_ms is not None and job.users_site is not None and (
            lat > job.latency_slo_ms
        ):
            return [], (
                f"latency: {lat:.1f} ms one-way to users at {job.users_site} exceeds the "
                f"SLO of {job.latency_slo_ms:g} ms"
            )
        pools = [(k, p) for k, p in enumerate(site.pools) if p.accelerator in job.types]
        if not pools:
            have = ", ".join(sorted({p.accelerator for p in site.pools}))
            return [], f"accelerators: site has {have}; job accepts {', '.join(job.types)}"
        pue, kw, speed = self._pue[idx], self._power, self._speed
        big = [
            (idx, k, p.accelerator, lat, kw[p.accelerator], pue, speed[p.accelerator])
            for k, p in pools
            if p.accelerators >= job.accelerators
        ]
        if not big:
            largest = max(p.accelerators for _, p in pools)
            return [], (
                f"size: job needs {job.accelerators:g} accelerators, the largest "
                f"acceptable pool has {largest}"
            )
        return big, None


def feasibility(job: Job, model: CostModel, rules: SiteRules = INTERIM_RULES) -> Feasibility:
    """Every feasible option of ``job`` and a reason for each site it cannot use."""
    return FeasibilityCheck(model, rules)(job)

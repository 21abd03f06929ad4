"""Where a job may run at all: its feasible (site, pool) options and why every other site is out.

Static feasibility only (it does not change while the job waits): the rules
(`suanli.core.rules`), accelerator types, pool size and the latency SLO. Free capacity is
the policies' concern.

A *split* option (`Option.parts`) runs one gang over pools of one accelerator type at two or
more sites of a hub. It is offered only when all of these hold (docs/queueing.md, "Gangs
across sites"): the check was built with ``cross_site=True`` (the simulator; never the
service), the job asks for it (``span == "hub"``), it is a training or fine-tuning gang of
more accelerators than one node holds, the scenario allows its hub (``Scenario.cross_site``),
and no single pool of that hub can hold the job (so a split never competes with a whole
placement in the same hub: it is the way a job too big for every pool there runs at all).
Every part's site passes the same per-site screen (rules, latency, type) as a whole option.
Parts are whole nodes in proportion to the pools' sizes (`split_accelerators`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass, field

from suanli.core.cost import CostModel
from suanli.core.rules import INTERIM_RULES, RuleResult, SiteRules, Verdict
from suanli.model import Job, JobKind, Site
from suanli.model.network import CrossSiteGangs

#: the kinds of job a split gang may be (synchronous training; inference is not split)
SPLIT_KINDS = frozenset({JobKind.TRAIN, JobKind.FINETUNE})


@dataclass(frozen=True, slots=True)
class Part:
    """One site's share of a split gang: whole nodes of one pool, with its own figures."""

    site: str
    site_idx: int
    pool: int
    accelerators: float
    #: facility power of this part (kW)
    power_kw: float
    #: when the job's data reaches this part's site
    ready_h: float
    transfer_gb: float
    transfer_yuan: float

    def label(self) -> str:
        return f"{self.site}/pool {self.pool} x{self.accelerators:g}"


@dataclass(frozen=True, slots=True)
class Option:
    """One way to run a job: a pool at a site, with the job's figures there.

    A split option (``parts`` non-empty) runs the gang over every part at once: ``site``,
    ``site_idx`` and ``pool`` name its largest part (for labels), ``power_kw``,
    ``transfer_gb`` and ``fixed_yuan`` are the parts' sums, ``ready_h`` the latest part's and
    ``runtime_h`` includes the hub's slowdown.
    """

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
    #: the parts of a split gang (empty: the whole job on this one pool)
    parts: tuple[Part, ...] = ()

    @property
    def sites(self) -> tuple[str, ...]:
        """Every site the option uses."""
        return tuple(p.site for p in self.parts) if self.parts else (self.site,)

    @property
    def pools(self) -> tuple[tuple[int, int, float], ...]:
        """(site index, pool, accelerators or 0 for the whole job) of every pool it uses."""
        if not self.parts:
            return ((self.site_idx, self.pool, 0.0),)
        return tuple((p.site_idx, p.pool, p.accelerators) for p in self.parts)

    def describe(self) -> str:
        """The parts, for explanations: ``yrd-demo/pool 0 x400 + wuhu/pool 2 x200 A100``."""
        if not self.parts:
            return f"{self.site}/pool {self.pool} {self.accelerator}"
        return " + ".join(p.label() for p in self.parts) + f" {self.accelerator}"


def split_accelerators(accelerators: float, pools: list[tuple[int, int]]) -> list[int] | None:
    """Accelerators per pool for a gang of ``accelerators`` over ``pools`` (each (size,
    per node)): whole nodes in proportion to the sizes, the largest pool taking the rest
    (its remainder task as on one pool). None: they cannot hold it, or fewer than two pools
    get a share."""
    need = int(accelerators)
    total = sum(size for size, _ in pools)
    if need > total or len(pools) < 2:
        return None
    big = max(range(len(pools)), key=lambda i: (pools[i][0], -i))
    shares = [0] * len(pools)
    for i, (size, per) in enumerate(pools):
        if i != big:
            shares[i] = min(size, int(need * size / total) // per * per)
    shares[big] = need - sum(shares)
    if shares[big] > pools[big][0]:
        # the rounding left the largest pool short: fill the others node by node
        for i, (size, per) in enumerate(pools):
            while i != big and shares[big] > pools[big][0] and shares[i] + per <= size:
                shares[i] += per
                shares[big] -= per
        if shares[big] > pools[big][0]:
            return None
    if sum(1 for a in shares if a > 0) < 2:
        return None
    return shares


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
    #: the pools of every size a split gang may use (empty unless the job may split)
    partial: list[_Pool] = field(default_factory=list)


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

    def __init__(
        self, model: CostModel, rules: SiteRules = INTERIM_RULES, *, cross_site: bool = False
    ) -> None:
        self.model = model
        self.rules = rules
        scenario = model.scenario
        #: offer split options (see the module docstring); the service never does
        self.cross_site = cross_site and bool(scenario.cross_site)
        self._hub_of = [scenario.sites[s].hub for s in model.site_ids]
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
        self._pools: dict[tuple[object, ...], tuple[list[_Pool], str | None, list[_Pool]]]
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
            self._may_split(job),
        )
        screen = self._screens.get(key)
        if screen is None:
            screen = self._screens[key] = self._screen(job, state_sites)
        options = self._options(job, screen.eligible)
        if screen.partial:
            options.extend(self._splits(job, screen.partial, options))
        return Feasibility(options, screen.excluded, screen.unresolved)

    def _may_split(self, job: Job) -> bool:
        """Whether ``job`` may get split options (see the module docstring)."""
        return (
            self.cross_site
            and job.span == "hub"
            and job.kind in SPLIT_KINDS
            and job.accelerators > 1
        )

    def _splits(self, job: Job, partial: list[_Pool], whole: list[Option]) -> list[Option]:
        """The split options of ``job``: per allowed hub with no whole option, per type."""
        model = self.model
        scenario = model.scenario
        covered = {self._hub_of[o.site_idx] for o in whole}
        out: list[Option] = []
        for hub, gangs in scenario.cross_site.items():
            if hub in covered:
                continue  # a pool of the hub holds the job whole: no split there
            pools = [p for p in partial if self._hub_of[p[0]] == hub]
            for acc in job.types:
                of_type = [p for p in pools if p[2] == acc]
                if len({p[0] for p in of_type}) < 2:
                    continue
                sizes = [
                    (scenario.sites[model.site_ids[p[0]]].pools[p[1]].accelerators,
                     scenario.sites[model.site_ids[p[0]]].pools[p[1]].per_node)
                    for p in of_type
                ]  # fmt: skip
                if job.accelerators <= max(per for _, per in sizes):
                    continue  # one node holds it: not a multi-node gang
                shares = split_accelerators(job.accelerators, sizes)
                if shares is None or len({p[0] for p, a in zip(of_type, shares, strict=True)
                                          if a > 0}) < 2:  # fmt: skip
                    continue
                out.append(self._split_option(job, gangs, of_type, shares))
        return out

    def _split_option(
        self, job: Job, gangs: CrossSiteGangs, pools: list[_Pool], shares: list[int]
    ) -> Option:
        """The split option over ``pools`` with ``shares`` accelerators each."""
        model = self.model
        lat_price = model.scenario.costs.latency_yuan_per_gpu_h_ms if job.users_site else 0.0
        _, _, acc, _, kw, _, speed = pools[0]
        runtime = job.duration_h / speed[0] * gangs.slowdown
        parts: list[Part] = []
        latency = fixed = 0.0
        for (idx, k, _, lat, _, pue, _), a in zip(pools, shares, strict=True):
            if a <= 0:
                continue
            sid = model.site_ids[idx]
            gb, yuan, hours = model.transfer(job, sid)
            parts.append(Part(sid, idx, k, float(a), a * kw * pue, job.arrival_h + hours, gb, yuan))
            latency = max(latency, lat)
            fixed += yuan + (lat_price * a * runtime * lat if lat_price else 0.0)
        lead = max(parts, key=lambda p: p.accelerators)
        return Option(
            lead.site,
            lead.site_idx,
            lead.pool,
            acc,
            runtime,
            sum(p.power_kw for p in parts),
            max(p.ready_h for p in parts),
            sum(p.transfer_gb for p in parts),
            latency,
            fixed,
            tuple(parts),
        )

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
        options = [o for o in f.options if not _touches(o, out)] if out else list(f.options)
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
        partial: list[_Pool] = []
        split = self._may_split(job)
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
                pools, why, anysize = self._site_pools(job, idx, site)
                why = None if why is None else self._texts.setdefault(why, why)
                found = self._pools[pkey] = (pools, why, anysize)
            pools, why, anysize = found
            if sid in state_sites:
                unresolved.append((idx, why))
            elif why is not None:
                excluded[sid] = why
            eligible.extend(pools)
            if split and self._hub_of[idx] in scenario.cross_site:
                partial.extend(anysize)
        return _Screen(eligible, self._map(list(excluded.items())), tuple(unresolved), partial)

    def _site_pools(
        self, job: Job, idx: int, site: Site
    ) -> tuple[list[_Pool], str | None, list[_Pool]]:
        """The pools of ``site`` the job may use as far as latency, types and size go, or
        why none; and the pools of its types of any size (the parts a split gang may use)."""
        lat = self.model.latency_ms(job, site.id)
        if (
            job.latency_slo_ms is not None
            and job.users_site is not None
            and (lat > job.latency_slo_ms)
        ):
            return (
                [],
                (
                    f"latency: {lat:.1f} ms one-way to users at {job.users_site} exceeds the "
                    f"SLO of {job.latency_slo_ms:g} ms"
                ),
                [],
            )
        pools = [(k, p) for k, p in enumerate(site.pools) if p.accelerator in job.types]
        if not pools:
            have = ", ".join(sorted({p.accelerator for p in site.pools}))
            return [], f"accelerators: site has {have}; job accepts {', '.join(job.types)}", []
        pue, kw, speed = self._pue[idx], self._power, self._speed
        anysize = [
            (idx, k, p.accelerator, lat, kw[p.accelerator], pue, speed[p.accelerator])
            for k, p in pools
        ]
        big = [
            entry for entry, (_, p) in zip(anysize, pools, strict=True)
            if p.accelerators >= job.accelerators
        ]  # fmt: skip
        if not big:
            largest = max(p.accelerators for _, p in pools)
            return (
                [],
                (
                    f"size: job needs {job.accelerators:g} accelerators, the largest "
                    f"acceptable pool has {largest}"
                ),
                anysize,
            )
        return big, None, anysize


def _touches(option: Option, sites: Collection[int]) -> bool:
    """Whether ``option`` uses any of ``sites`` (site indices; a split gang: any part's)."""
    if not option.parts:
        return option.site_idx in sites
    return any(p.site_idx in sites for p in option.parts)


def feasibility(job: Job, model: CostModel, rules: SiteRules = INTERIM_RULES) -> Feasibility:
    """Every feasible option of ``job`` and a reason for each site it cannot use (never a
    split option: this is the service's check)."""
    return FeasibilityCheck(model, rules)(job)

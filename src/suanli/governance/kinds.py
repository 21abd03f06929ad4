"""The rule kinds, compiled against a scenario.

Each compiled rule answers ``bind(job, site)`` once per distinct static key (tenant, data
class, home site, job kind, accepted types, users' site, candidate site):

* ``None``          the rule does not apply to such jobs there;
* a `RuleResult`    a DENY that holds for every such job;
* a `Check`         a function of the job itself (its volume, model, size, approvals),
                    run on every evaluation; it returns None (no objection) or a result.

So the hot path is one dict lookup per (job, site) plus the few checks that apply.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, datetime

from suanli.core.rules import RuleResult, Verdict
from suanli.governance.approvals import ApprovalBook, ApprovalStatus
from suanli.governance.attributes import JobAttributes
from suanli.governance.registry import ModelRegistry
from suanli.governance.schema import (
    AcceleratorAllowList,
    CrossBorderPersonalInfo,
    GreenPower,
    ModelFiling,
    PowerCap,
    Residency,
    SectorLocality,
    TenantRecord,
)
from suanli.model import Classification, Job, JobKind, Scenario, Site

Check = Callable[[Job, Site], RuleResult | None]
Bound = RuleResult | Check | None
Attributes = Callable[[Job], JobAttributes]


def deny(rule_id: str, message: str) -> RuleResult:
    return RuleResult(Verdict.DENY, rule_id, message)


def home_of(scenario: Scenario, job: Job) -> Site:
    return scenario.sites[job.data.site]


class ResidencyRule:
    def __init__(self, r: Residency, scenario: Scenario, tenants: dict[str, TenantRecord]):
        self.id, self.r, self.scenario, self.tenants = r.id, r, scenario, tenants
        self.classes = frozenset(r.classes)

    def bind(self, job: Job, site: Site) -> Bound:
        home = home_of(self.scenario, job).jurisdiction
        if site.jurisdiction == home:
            return None
        cls = job.data.classification
        if cls in self.classes:
            return deny(
                self.id, f"{cls.value} data homed in {home} may not leave it ({site.jurisdiction})"
            )
        record = self.tenants.get(job.tenant)
        if self.r.honour_tenant_opt_out and record is not None and record.forbid_export:
            return deny(
                self.id,
                f"tenant {job.tenant} forbids export of its data from {home} ({site.jurisdiction})",
            )
        return None


class ExportCounters:
    """People (and sensitive people) whose personal information each tenant exported, per
    calendar year; ``prior`` counts exports before the run (in the run's first year)."""

    def __init__(self, scenario: Scenario, prior: dict[str, tuple[int, int]]) -> None:
        start = scenario.start.astimezone(UTC)
        self.first_year = start.year
        #: hours since start at which each following year begins
        self._boundaries = [
            (datetime(y, 1, 1, tzinfo=UTC) - start).total_seconds() / 3600
            for y in range(start.year + 1, start.year + 101)
        ]
        self._counts: dict[tuple[str, int], tuple[int, int]] = {
            (t, self.first_year): c for t, c in prior.items()
        }

    def year_of(self, hour: float) -> int:
        return self.first_year + bisect_right(self._boundaries, hour)

    def get(self, tenant: str, year: int) -> tuple[int, int]:
        return self._counts.get((tenant, year), (0, 0))

    def add(self, tenant: str, year: int, people: int, sensitive: int) -> None:
        p, s = self.get(tenant, year)
        self._counts[(tenant, year)] = (p + people, s + sensitive)


class CrossBorderRule:
    """CAC 2024 cross-border provisions; see `schema.CrossBorderPersonalInfo`."""

    def __init__(
        self,
        r: CrossBorderPersonalInfo,
        scenario: Scenario,
        tenants: dict[str, TenantRecord],
        counters: ExportCounters,
        approvals: ApprovalBook,
        attributes: Attributes,
    ) -> None:
        self.id, self.r, self.scenario, self.tenants = r.id, r, scenario, tenants
        self.counters, self.approvals, self.attributes = counters, approvals, attributes
        self.origins = frozenset(r.from_)
        #: the record of a tenant the policy says nothing about (built once: it is validated)
        self._no_record = TenantRecord()

    def exports(self, job: Job, site: Site) -> bool:
        """Whether placing ``job`` at ``site`` exports its data under this rule."""
        home = home_of(self.scenario, job).jurisdiction
        return home in self.origins and site.jurisdiction != home

    def bind(self, job: Job, site: Site) -> Bound:
        if not self.exports(job, site):
            return None
        cls = job.data.classification
        if cls is Classification.CORE:
            return deny(self.id, "core data may not be exported")
        if cls is Classification.IMPORTANT:
            if self.r.important_data == "deny":
                return deny(self.id, "important data may not be exported")
            return lambda j, s: self._approval(
                j, "exporting important data requires a CAC security assessment"
            )
        if cls is Classification.PERSONAL:
            return self._volume
        return None

    def _approval(self, job: Job, reason: str) -> RuleResult | None:
        req = self.approvals.decision(job.id, self.id)
        if req is not None and req.status is ApprovalStatus.APPROVED:
            return None
        if req is not None and req.status is ApprovalStatus.DENIED:
            return deny(self.id, f"security assessment denied ({req.id}): {req.evidence}")
        return RuleResult(Verdict.NEEDS_APPROVAL, self.id, reason)

    def _volume(self, job: Job, site: Site) -> RuleResult | None:
        r, a = self.r, self.attributes(job)
        if a.people is None:
            if r.when_people_unknown == "exempt":
                return None
            if r.when_people_unknown == "deny":
                return deny(
                    self.id,
                    "personal data with an unknown number of people may not be exported",
                )
            return self._approval(job, "personal data of an unknown number of people")
        record = self.tenants.get(job.tenant, self._no_record)
        if record.ciio and (a.people or a.sensitive_people):
            return self._approval(
                job,
                f"{job.tenant} operates critical information infrastructure: any export "
                "of personal information requires a CAC security assessment",
            )
        year = self.counters.year_of(job.arrival_h)
        p0, s0 = self.counters.get(job.tenant, year)
        p, s = p0 + a.people, s0 + a.sensitive_people
        volume = (
            f"{job.tenant} would export personal information of {p:,} people "
            f"({s:,} sensitive) in {year}"
        )
        if p >= r.assessment_from_people or s >= r.assessment_from_sensitive_people:
            return self._approval(
                job,
                f"{volume}: >= {r.assessment_from_people:,} people or >= "
                f"{r.assessment_from_sensitive_people:,} sensitive requires a CAC security "
                "assessment",
            )
        if p >= r.exempt_below_people or s > 0:
            if record.standard_contract:
                return None
            return deny(
                self.id,
                f"{volume}: from {r.exempt_below_people:,} people or any sensitive information "
                "a standard contract must be on file, and none is",
            )
        return None

    def record(self, job: Job, site: Site) -> None:
        """Count an export that happened (a placement at ``site``)."""
        if job.data.classification is not Classification.PERSONAL or not self.exports(job, site):
            return
        a = self.attributes(job)
        year = self.counters.year_of(job.arrival_h)
        self.counters.add(job.tenant, year, a.people or 0, a.sensitive_people)


class ModelFilingRule:
    def __init__(
        self, r: ModelFiling, scenario: Scenario, registry: ModelRegistry, attributes: Attributes
    ) -> None:
        self.id, self.scenario, self.registry, self.attributes = (
            r.id,
            scenario,
            registry,
            attributes,
        )
        self.jurisdictions = frozenset(r.jurisdictions)

    def bind(self, job: Job, site: Site) -> Bound:
        if job.kind is not JobKind.ONLINE_INFERENCE:
            return None
        users = self.scenario.sites.get(job.users_site or "", site)
        if users.jurisdiction not in self.jurisdictions:
            return None
        return self._filed

    def _filed(self, job: Job, site: Site) -> RuleResult | None:
        a = self.attributes(job)
        if not (a.public_facing and a.generative):
            return None
        if not a.model_id:
            return deny(self.id, "a public generative-AI service must name its filed model")
        problem = self.registry.filing_problem(a.model_id)
        return deny(self.id, f"public generative-AI service: {problem}") if problem else None


class SectorLocalityRule:
    def __init__(self, r: SectorLocality, scenario: Scenario) -> None:
        self.id, self.r, self.scenario = r.id, r, scenario
        self.classes = frozenset(r.classes)

    def bind(self, job: Job, site: Site) -> Bound:
        tenant = self.scenario.tenants.get(job.tenant)
        if tenant is None or tenant.sector is not self.r.sector:
            return None
        if job.data.classification not in self.classes:
            return None
        home = home_of(self.scenario, job)
        scope = self.r.scope
        if scope == "site":
            ok, name = site.id == home.id, f"site {home.id}"
        elif scope == "hub":
            ok = site.hub == home.hub and site.jurisdiction == home.jurisdiction
            name = f"hub {home.hub}"
        else:
            ok, name = site.jurisdiction == home.jurisdiction, home.jurisdiction
        if ok:
            return None
        return deny(
            self.id,
            f"{self.r.sector.value} {job.data.classification.value} data homed at {home.id} "
            f"is processed only within {name}",
        )


class AllowListRule:
    def __init__(self, r: AcceleratorAllowList, scenario: Scenario) -> None:
        self.id, self.r, self.scenario = r.id, r, scenario
        allowed = set(r.allow) if r.allow else set(scenario.catalog)
        if r.domestic_only:
            allowed &= {n for n, t in scenario.catalog.items() if t.domestic}
        self.allowed = frozenset(allowed)

    def applies(self, job: Job, site: Site) -> bool:
        r = self.r
        if r.tenants and job.tenant not in r.tenants:
            return False
        if r.sectors:
            tenant = self.scenario.tenants.get(job.tenant)
            if tenant is None or tenant.sector not in r.sectors:
                return False
        return not r.jurisdictions or site.jurisdiction in r.jurisdictions

    def bind(self, job: Job, site: Site) -> Bound:
        if not self.applies(job, site):
            return None
        here = {p.accelerator for p in site.pools} & set(job.types)
        if here & self.allowed:
            return None
        return deny(
            self.id,
            f"{job.tenant} may use only {', '.join(sorted(self.allowed))} here; the site offers "
            f"{', '.join(sorted(here)) or 'none'} of the job's types",
        )


class PowerCapRule:
    def __init__(self, r: PowerCap, scenario: Scenario) -> None:
        self.id, self.scenario = r.id, scenario
        self.caps = {sid: r.caps_mw.get(sid, s.power_cap_mw) for sid, s in scenario.sites.items()}
        self._bound: dict[tuple[str, tuple[str, ...]], Bound] = {}

    def bind(self, job: Job, site: Site) -> Bound:
        # the binding depends on the site and the job's types only
        key = (site.id, job.types)
        if key not in self._bound:
            self._bound[key] = self._bind(job, site)
        return self._bound[key]

    def _bind(self, job: Job, site: Site) -> Bound:
        pools = [p for p in site.pools if p.accelerator in job.types]
        if not pools:
            return None
        kw = [self.scenario.catalog[p.accelerator].power_kw.value for p in pools]
        mw_per_accel = min(kw) * site.pue / 1000.0
        cap = self.caps[site.id]
        # no job larger than the largest acceptable pool runs here: if even that fits, allow
        if max(p.accelerators for p in pools) * max(kw) * site.pue / 1000.0 <= cap:
            return None
        rid = self.id

        def check(j: Job, s: Site) -> RuleResult | None:
            mw = j.accelerators * mw_per_accel
            if mw <= cap:
                return None
            return deny(rid, f"job draws {mw:.2f} MW, above the site's cap of {cap:g} MW")

        return check


class GreenPowerRule:
    def __init__(self, r: GreenPower, scenario: Scenario) -> None:
        self.id, self.r = r.id, r
        self.kinds = frozenset(r.job_kinds)
        self.short: dict[str, str] = {}
        for sid, s in scenario.sites.items():
            need = r.min_share.get(s.hub)
            if need is None:
                continue
            share = r.site_share.get(sid)
            basis = "declared"
            if share is None:
                share = max(0.0, 1.0 - float(s.carbon.mean()) / r.fossil_factor_kg_per_kwh)
                basis = "estimated"
            if share < need:
                self.short[sid] = (
                    f"site {sid} has a {basis} green-power share of {share:.0%}; "
                    f"hub {s.hub} requires >= {need:.0%}"
                )

    def bind(self, job: Job, site: Site) -> Bound:
        if self.kinds and job.kind not in self.kinds:
            return None
        why = self.short.get(site.id)
        return deny(self.id, why) if why else None


CompiledRule = (
    ResidencyRule
    | CrossBorderRule
    | ModelFilingRule
    | SectorLocalityRule
    | AllowListRule
    | PowerCapRule
    | GreenPowerRule
)

"""The governance engine: a policy set compiled against a scenario, as a `SiteRules`.

``check(job, site, scenario)`` is what `suanli.core.options.feasibility` calls for every
(job, candidate site). Verdict: the first DENY of any rule (in file order); else the first
NEEDS_APPROVAL; else ALLOW. Each rule is bound once per static key (see
`suanli.governance.kinds`), so an evaluation is a dict lookup plus the few job-specific checks
that apply (export volumes, model filings, job size, approvals).

State the engine keeps (the scheduler drives it; nothing reads a clock):

* cross-border export counters per tenant per year, advanced by `record_placement`;
* ``needs_approval``: job id -> site id -> the NEEDS_APPROVAL result, for every evaluation
  that asked for one (what to request, and why);
* the `ApprovalBook` it reads decisions from.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path

from suanli.core.rules import ALLOW, RuleResult, Verdict
from suanli.governance.approvals import ApprovalBook, ApprovalRequest, ApprovalStatus
from suanli.governance.attributes import JobAttributes
from suanli.governance.kinds import (
    AllowListRule,
    Check,
    CompiledRule,
    CrossBorderRule,
    ExportCounters,
    GreenPowerRule,
    ModelFilingRule,
    PowerCapRule,
    ResidencyRule,
    SectorLocalityRule,
)
from suanli.governance.registry import FiledModel, ModelRegistry
from suanli.governance.schema import (
    AcceleratorAllowList,
    CrossBorderPersonalInfo,
    GreenPower,
    ModelFiling,
    PolicyError,
    PolicySet,
    PowerCap,
    Residency,
    Rule,
    SectorLocality,
    TenantRecord,
    load_policy,
)
from suanli.model import Job, Scenario, Site

StaticKey = tuple[str, str, str, str, tuple[str, ...], str | None, str]

#: what a rule's job-specific checks depend on beyond the static key: 0 the job's size (in the
#: feasibility screen's key), 1 its attributes (model, audience), 2 state (counters, approvals);
#: rules not listed are taken as 2
_DEPENDS = {"PowerCapRule": 0, "ModelFilingRule": 1, "CrossBorderRule": 2}


class GovernanceEngine:
    """A compiled `PolicySet`; implements `suanli.core.rules.SiteRules`."""

    def __init__(
        self,
        policy: PolicySet,
        scenario: Scenario,
        *,
        attributes: Mapping[str, JobAttributes] | None = None,
        approvals: ApprovalBook | None = None,
        registry: ModelRegistry | None = None,
        source: str = "policy",
        static_from: GovernanceEngine | None = None,
    ) -> None:
        self.policy = policy
        self.scenario = scenario
        self.approvals = approvals if approvals is not None else ApprovalBook()
        self.registry = registry if registry is not None else _registry(policy)
        self._given = dict(attributes or {})
        self.needs_approval: dict[str, dict[str, RuleResult]] = {}
        tenants = dict(policy.spec.tenants)
        _check_names(policy, scenario, source)
        self.counters = ExportCounters(
            scenario,
            {t: (r.exported_people, r.exported_sensitive_people) for t, r in tenants.items()},
        )
        self.rules: list[CompiledRule] = [self._compile(r, tenants) for r in policy.spec.rules]
        self._cross = [r for r in self.rules if isinstance(r, CrossBorderRule)]
        self._allow_lists = [r for r in self.rules if isinstance(r, AllowListRule)]
        self._cache: dict[StaticKey, tuple[RuleResult | None, tuple[Check, ...]]] = {}
        #: static key without the site -> whether some site's verdict depends on the job itself
        self._dynamic: dict[tuple[object, ...], tuple[int, frozenset[str]]] = {}
        #: the last job whose attributes were read (rules ask once per site)
        self._last: tuple[Job | None, JobAttributes] = (None, JobAttributes())
        self._limits: dict[tuple[str, tuple[str, ...]], dict[str, tuple[frozenset[str], str]]] = {}
        if static_from is not None:
            # what depends on the policy and the scenario only (which sites' verdicts depend on
            # state, the allow-lists' type limits) is shared with an engine of the same two;
            # bindings are not (their checks read this engine's counters and approvals)
            if static_from.policy is not policy or static_from.scenario is not scenario:
                raise ValueError("static_from must be compiled from the same policy and scenario")
            self._dynamic = static_from._dynamic
            self._limits = static_from._limits

    @classmethod
    def from_file(
        cls,
        path: Path,
        scenario: Scenario,
        *,
        attributes: Mapping[str, JobAttributes] | None = None,
        approvals: ApprovalBook | None = None,
    ) -> GovernanceEngine:
        """Load a policy file and compile it; errors name the file and the path inside."""
        return cls(
            load_policy(path),
            scenario,
            attributes=attributes,
            approvals=approvals,
            source=path.name,
        )

    @property
    def name(self) -> str:
        return f"{self.policy.metadata.name} v{self.policy.metadata.version}"

    def attributes(self, job: Job) -> JobAttributes:
        last, attributes = self._last
        if last is job:
            return attributes
        given = self._given.get(job.id)
        attributes = given if given is not None else JobAttributes.of(job)
        self._last = (job, attributes)
        return attributes

    def _compile(self, r: Rule, tenants: dict[str, TenantRecord]) -> CompiledRule:
        s = self.scenario
        if isinstance(r, Residency):
            return ResidencyRule(r, s, tenants)
        if isinstance(r, CrossBorderPersonalInfo):
            return CrossBorderRule(r, s, tenants, self.counters, self.approvals, self.attributes)
        if isinstance(r, ModelFiling):
            return ModelFilingRule(r, s, self.registry, self.attributes)
        if isinstance(r, SectorLocality):
            return SectorLocalityRule(r, s)
        if isinstance(r, AcceleratorAllowList):
            return AllowListRule(r, s)
        if isinstance(r, PowerCap):
            return PowerCapRule(r, s)
        if isinstance(r, GreenPower):
            return GreenPowerRule(r, s)
        raise TypeError(f"unknown rule {r!r}")  # pragma: no cover - the schema is closed

    # -- SiteRules ------------------------------------------------------------------------

    def cache_key(self, job: Job) -> Hashable | None:
        """What beyond the feasibility screen's own key (data home and class, types, size,
        users, SLO) the verdicts depend on: None when some site's verdict depends on state
        (export counters, approvals: ask every time); else the tenant, kind and, where a
        model-filing check applies, the service's model and audience."""
        key, state_sites = self.screen_key(job)
        return None if state_sites else key

    def screen_key(self, job: Job) -> tuple[Hashable, frozenset[str]]:
        """`cache_key` split in two: the key of every verdict that does not depend on state
        (the tenant, kind and, where some check reads them, the service's model and
        audience), and the sites whose verdicts for ``job`` do (cross-border volumes and
        approvals; empty for most jobs)."""
        k = (job.tenant, job.data.classification, job.data.site, job.kind, job.types,
             job.users_site)  # fmt: skip
        found = self._dynamic.get(k)
        if found is None:
            found = self._dynamic[k] = self._classify(job, k)
        kind, state_sites = found
        if kind == 0:
            return (job.tenant, job.kind), state_sites
        a = self.attributes(job)
        return (job.tenant, job.kind, a.model_id, a.public_facing, a.generative), state_sites

    def _classify(self, job: Job, k: tuple[object, ...]) -> tuple[int, frozenset[str]]:
        """0: every site's verdict is static for the key; 1: some depends on the job's
        attributes; 2: some on state. With the sites whose verdicts depend on state."""
        kind, state_sites = 0, []
        for site in self.scenario.sites.values():
            skey: StaticKey = (*k, site.id)  # type: ignore[assignment]
            entry = self._cache.get(skey)
            if entry is None:
                entry = self._cache[skey] = self._bind(job, site)
            for check in entry[1]:
                depends = _DEPENDS.get(check.__qualname__.split(".")[0], 2)
                kind = max(kind, depends)
                if depends == 2 and site.id not in state_sites:
                    state_sites.append(site.id)
        return kind, frozenset(state_sites)

    def check(self, job: Job, site: Site, scenario: Scenario | None = None) -> RuleResult:
        """allow, deny or needs-approval for ``job`` at ``site`` (``scenario`` is the one the
        engine was compiled for)."""
        key = (
            job.tenant,
            job.data.classification,
            job.data.site,
            job.kind,
            job.types,
            job.users_site,
            site.id,
        )
        entry = self._cache.get(key)
        if entry is None:
            entry = self._cache[key] = self._bind(job, site)
        static, checks = entry
        if static is not None:
            return static
        result = ALLOW
        for check in checks:
            r = check(job, site)
            if r is None:
                continue
            if r.verdict is Verdict.DENY:
                return r
            if result is ALLOW:
                result = r
        if result.verdict is Verdict.NEEDS_APPROVAL:
            self.needs_approval.setdefault(job.id, {})[site.id] = result
        return result

    def _bind(self, job: Job, site: Site) -> tuple[RuleResult | None, tuple[Check, ...]]:
        checks: list[Check] = []
        for rule in self.rules:
            b = rule.bind(job, site)
            if isinstance(b, RuleResult):
                return b, ()
            if b is not None:
                checks.append(b)
        return None, tuple(checks)

    # -- state ----------------------------------------------------------------------------

    def record_placement(self, job: Job, site_id: str) -> None:
        """A job started at ``site_id``: count its cross-border export, if any."""
        site = self.scenario.sites[site_id]
        for rule in self._cross:
            rule.record(job, site)

    def approvals_needed(self, job: Job) -> Mapping[str, RuleResult]:
        """Site id -> the needs-approval result of the latest evaluation of ``job``."""
        return self.needs_approval.get(job.id, {})

    def request_approvals(self, job_id: str, time_h: float) -> list[ApprovalRequest]:
        """Open a request for every rule that asked to approve ``job_id`` somewhere."""
        rules: dict[str, str] = {}
        for r in self.needs_approval.get(job_id, {}).values():
            rules.setdefault(r.rule_id, r.message)
        return [self.approvals.request(job_id, rid, msg, time_h) for rid, msg in rules.items()]

    def decide(self, job_id: str, approve: bool, note: str, time_h: float) -> list[ApprovalRequest]:
        """Approve (``note``: the evidence) or deny (``note``: the reason) every request of
        ``job_id`` still pending; forget its needs-approval results so they are re-evaluated."""
        done = []
        for rid in {r.rule_id for r in self.needs_approval.pop(job_id, {}).values()}:
            req = self.approvals.decision(job_id, rid)
            if req is None or req.status is not ApprovalStatus.PENDING:
                continue
            if approve:
                done.append(self.approvals.approve(req.id, note, time_h))
            else:
                done.append(self.approvals.deny(req.id, note, time_h))
        return done

    def exported(self, tenant: str, year: int) -> tuple[int, int]:
        """(people, sensitive people) exported by ``tenant`` in ``year`` so far."""
        return self.counters.get(tenant, year)

    def allowed_types(self, job: Job, site: Site) -> frozenset[str]:
        """The accelerator types ``job`` may use at ``site`` under the allow-lists (a site the
        engine allows may still hold other types: the scheduler should drop those options)."""
        allowed = frozenset(job.types)
        for rule in self._allow_lists:
            if rule.applies(job, site):
                allowed &= rule.allowed
        return allowed

    def type_limits(self, job: Job) -> Mapping[str, tuple[frozenset[str], str]]:
        """Site id -> (the accelerator types ``job`` may use there, the allow-list rule's
        id), for the sites where an allow-list narrows the job's types (usually none)."""
        key = (job.tenant, job.types)
        limits = self._limits.get(key)
        if limits is None:
            limits = {}
            for site in self.scenario.sites.values():
                for rule in self._allow_lists:
                    if rule.applies(job, site):
                        have, rid = limits.get(site.id, (frozenset(job.types), rule.id))
                        if not have <= rule.allowed:
                            limits[site.id] = (have & rule.allowed, rid)
            self._limits[key] = limits
        return limits


def _registry(policy: PolicySet) -> ModelRegistry:
    return ModelRegistry(
        FiledModel(m.id, m.filing_number, m.base_model, m.provider) for m in policy.spec.models
    )


def _check_names(policy: PolicySet, scenario: Scenario, source: str) -> None:
    """Sites, hubs, tenants and accelerator types the policy names must exist."""
    hubs = {s.hub for s in scenario.sites.values()}
    types = set(scenario.catalog)

    def fail(loc: str, problem: str, known: Iterable[str]) -> PolicyError:
        return PolicyError(f"{source}: {loc}", problem, f"known: {', '.join(sorted(known))}")

    for t in policy.spec.tenants:
        if t not in scenario.tenants:
            raise fail(f"spec.tenants.{t}", f"unknown tenant {t!r}", scenario.tenants)
    for i, r in enumerate(policy.spec.rules):
        loc = f"spec.rules[{i}]"
        if isinstance(r, PowerCap):
            for sid in r.caps_mw:
                if sid not in scenario.sites:
                    raise fail(f"{loc}.capsMw.{sid}", f"unknown site {sid!r}", scenario.sites)
        if isinstance(r, GreenPower):
            for hub in r.min_share:
                if hub not in hubs:
                    raise fail(f"{loc}.minShare.{hub}", f"unknown hub {hub!r}", hubs)
            for sid in r.site_share:
                if sid not in scenario.sites:
                    raise fail(f"{loc}.siteShare.{sid}", f"unknown site {sid!r}", scenario.sites)
        if isinstance(r, AcceleratorAllowList):
            for k, name in enumerate(r.allow):
                if name not in types:
                    raise fail(f"{loc}.allow[{k}]", f"unknown accelerator type {name!r}", types)
            for k, t in enumerate(r.tenants):
                if t not in scenario.tenants:
                    raise fail(f"{loc}.tenants[{k}]", f"unknown tenant {t!r}", scenario.tenants)

"""The policy file schema (``apiVersion: suanli/v1``, ``kind: PolicySet``), as pydantic models.

Keys are camelCase in YAML, snake_case here; unknown keys are errors. A rule is one of the
kinds below, told apart by ``kind``. `load_policy` reads a file and raises `PolicyError`
naming the file, the path inside it and the line; what needs the whole file (unique ids,
contradictions between rules) is checked after each value on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from suanli.errors import InputError, ScenarioError
from suanli.model import Classification, JobKind, Sector


class PolicyError(InputError):
    """A policy file is malformed or contradicts itself; ``place`` names file and path."""


class Strict(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class RuleBase(Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9.-]*$")
    description: str = ""
    #: where the rule comes from (a law, a contract); shown with its verdicts
    source: str = ""


class Residency(RuleBase):
    """Data of ``classes`` is processed only in its home jurisdiction (the country of the site
    where it lives). Other data may leave unless its tenant forbids export
    (``spec.tenants.<id>.forbidExport``) and ``honour_tenant_opt_out`` is set."""

    kind: Literal["residency"]
    classes: list[Classification] = Field(min_length=1)
    honour_tenant_opt_out: bool = True


class CrossBorderPersonalInfo(RuleBase):
    """Personal information leaving a jurisdiction of ``from_``, by yearly cumulative volume
    per tenant (CAC 2024 cross-border provisions).

    With ``P`` people and ``S`` people's sensitive information exported by the tenant this
    year including the job: a security assessment (approval) when ``P >= assessment_from_people``
    or ``S >= assessment_from_sensitive_people``, for important data, or when the tenant is a
    critical-information-infrastructure operator; else a standard contract on file when
    ``P >= exempt_below_people`` or ``S > 0``; else exempt.
    """

    kind: Literal["crossBorderPersonalInfo"]
    from_: list[str] = Field(alias="from", min_length=1)
    exempt_below_people: int = Field(gt=0)
    assessment_from_people: int = Field(gt=0)
    assessment_from_sensitive_people: int = Field(gt=0)
    important_data: Literal["assessment", "deny"] = "assessment"
    #: a personal-data job whose people count is unknown
    when_people_unknown: Literal["assessment", "deny", "exempt"] = "deny"


class ModelFiling(RuleBase):
    """A public-facing generative-AI inference service offered in ``jurisdictions`` (where its
    users are, else where it runs) needs a filed model; a fine-tuned model its own filing."""

    kind: Literal["modelFiling"]
    jurisdictions: list[str] = Field(min_length=1)


class SectorLocality(RuleBase):
    """Data of ``classes`` of tenants in ``sector`` is processed only within ``scope`` of its
    home site: the same site, hub, or jurisdiction."""

    kind: Literal["sectorLocality"]
    sector: Sector
    classes: list[Classification] = Field(min_length=1)
    scope: Literal["site", "hub", "jurisdiction"] = "hub"


class AcceleratorAllowList(RuleBase):
    """Jobs matching every given selector (tenants, sectors, site jurisdictions; an empty
    selector matches all) may use only ``allow`` types (and only domestic ones when
    ``domestic_only``)."""

    kind: Literal["acceleratorAllowList"]
    tenants: list[str] = Field(default_factory=list)
    sectors: list[Sector] = Field(default_factory=list)
    jurisdictions: list[str] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=list)
    domestic_only: bool = False

    @model_validator(mode="after")
    def _allows_something(self) -> AcceleratorAllowList:
        if not self.allow and not self.domestic_only:
            raise ValueError("give allow (accelerator types) or domesticOnly: true")
        return self


class PowerCap(RuleBase):
    """A job may not draw more facility power than its site's cap (MW): the scenario's
    ``powerCapMw`` unless ``caps_mw`` overrides it. The running total is `PowerBook`'s."""

    kind: Literal["powerCap"]
    caps_mw: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)


class GreenPower(RuleBase):
    """A site whose green-power share is below its hub's minimum takes no jobs of
    ``job_kinds`` (all kinds when empty). A site's share is ``site_share`` if given, else
    estimated as ``1 - mean carbon intensity / fossil_factor``."""

    kind: Literal["greenPower"]
    min_share: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(min_length=1)
    site_share: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    fossil_factor_kg_per_kwh: float = Field(default=0.8325, gt=0)
    job_kinds: list[JobKind] = Field(default_factory=list)


Rule = Annotated[
    Residency
    | CrossBorderPersonalInfo
    | ModelFiling
    | SectorLocality
    | AcceleratorAllowList
    | PowerCap
    | GreenPower,
    Field(discriminator="kind"),
]

RULE_KINDS = (
    "residency",
    "crossBorderPersonalInfo",
    "modelFiling",
    "sectorLocality",
    "acceleratorAllowList",
    "powerCap",
    "greenPower",
)


class TenantRecord(Strict):
    """Governance facts about a tenant."""

    #: its general data may not leave its home jurisdiction either
    forbid_export: bool = False
    #: a critical-information-infrastructure operator: every PI export needs an assessment
    ciio: bool = False
    #: reference of the standard contract (or certification) on file; empty: none
    standard_contract: str = ""
    #: people (and sensitive people) already exported this year, before the run
    exported_people: int = Field(default=0, ge=0)
    exported_sensitive_people: int = Field(default=0, ge=0)


class FiledModelSpec(Strict):
    """A generative-AI model filed with the CAC."""

    id: str = Field(min_length=1)
    filing_number: str = ""
    base_model: str | None = None
    provider: str = ""


class Metadata(Strict):
    name: str = Field(min_length=1)
    version: int = Field(ge=1)
    description: str = ""


class Spec(Strict):
    tenants: dict[str, TenantRecord] = Field(default_factory=dict)
    models: list[FiledModelSpec] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)


class PolicySet(Strict):
    api_version: Literal["suanli/v1"]
    kind: Literal["PolicySet"]
    metadata: Metadata
    spec: Spec


def _overlap(a: list[Any], b: list[Any]) -> bool:
    """Two selectors overlap when either is empty (matches all) or they share a value."""
    return not a or not b or bool(set(a) & set(b))


def contradictions(policy: PolicySet) -> list[tuple[list[int | str], str]]:
    """(path, problem) for what needs the whole file: unique ids, thresholds in order, rules
    that contradict each other, models listed twice."""
    out: list[tuple[list[int | str], str]] = []
    rules = policy.spec.rules
    seen: dict[str, int] = {}
    for i, r in enumerate(rules):
        if r.id in seen:
            out.append((["spec", "rules", i, "id"], f"duplicate rule id {r.id!r}"))
        seen.setdefault(r.id, i)
    for i, a in enumerate(rules):
        if isinstance(a, CrossBorderPersonalInfo) and (
            a.exempt_below_people >= a.assessment_from_people
        ):
            out.append(
                (
                    ["spec", "rules", i, "exemptBelowPeople"],
                    f"must be below assessmentFromPeople ({a.assessment_from_people}), "
                    f"got {a.exempt_below_people}",
                )
            )
        for j in range(i):
            b = rules[j]
            where: list[int | str] = ["spec", "rules", i]
            if isinstance(a, CrossBorderPersonalInfo) and isinstance(b, CrossBorderPersonalInfo):
                both = sorted(set(a.from_) & set(b.from_))
                if both and a.model_dump(exclude={"id", "description", "source"}) != b.model_dump(
                    exclude={"id", "description", "source"}
                ):
                    out.append(
                        (where, f"contradicts rule {b.id!r}: different thresholds for {both}")
                    )
            if (
                isinstance(a, AcceleratorAllowList)
                and isinstance(b, AcceleratorAllowList)
                and a.allow
                and b.allow
                and not set(a.allow) & set(b.allow)
                and _overlap(a.tenants, b.tenants)
                and _overlap(a.sectors, b.sectors)
                and _overlap(a.jurisdictions, b.jurisdictions)
            ):
                out.append(
                    (
                        [*where, "allow"],
                        f"contradicts rule {b.id!r}: the same jobs may use no type allowed by both",
                    )
                )
            if isinstance(a, PowerCap) and isinstance(b, PowerCap):
                for site, cap in a.caps_mw.items():
                    if site in b.caps_mw and b.caps_mw[site] != cap:
                        out.append(
                            (
                                [*where, "capsMw", site],
                                f"contradicts rule {b.id!r}: cap {cap:g} MW here, "
                                f"{b.caps_mw[site]:g} MW there",
                            )
                        )
    models: dict[str, FiledModelSpec] = {}
    for k, m in enumerate(policy.spec.models):
        if m.id in models and models[m.id] != m:
            out.append(
                (["spec", "models", k, "id"], f"model {m.id!r} is listed twice, differently")
            )
        models.setdefault(m.id, m)
    return out


def parse_policy(data: Any, path: Path, text: str | None = None) -> PolicySet:
    """Validate parsed YAML; the first problem becomes a `PolicyError` at its place."""
    from suanli.scenario._yaml import _describe, error

    try:
        try:
            policy = PolicySet.model_validate(data)
        except ValidationError as e:
            first = e.errors(include_url=False)[0]
            loc = [p for k, p in enumerate(first["loc"]) if not _is_tag(first["loc"], k)]
            kind = first["type"]
            if kind == "union_tag_invalid":
                got = (first.get("ctx") or {}).get("tag")
                problem = f"unknown rule kind {got!r}"
                hint: str | None = f"known: {', '.join(RULE_KINDS)}"
                loc.append("kind")
            elif kind == "union_tag_not_found":
                problem, hint = "rule has no kind", f"known: {', '.join(RULE_KINDS)}"
            else:
                problem, hint = _describe(first)
            more = e.error_count() - 1
            if more:
                hint = (hint + "; " if hint else "") + f"{more} more problem(s) after this one"
            raise error(path, text, loc, problem, hint) from None
        problems = contradictions(policy)
        if problems:
            loc, problem = problems[0]
            more = len(problems) - 1
            raise error(path, text, loc, problem, f"{more} more problem(s)" if more else None)
    except ScenarioError as e:
        raise PolicyError(e.place, e.problem, e.hint) from None
    return policy


def _is_tag(loc: tuple[int | str, ...], k: int) -> bool:
    """Whether loc[k] is a discriminator tag pydantic inserted after ``rules[i]``."""
    return k >= 2 and loc[k] in RULE_KINDS and loc[k - 2] == "rules" and isinstance(loc[k - 1], int)


def load_policy(path: Path) -> PolicySet:
    """Read and validate a PolicySet YAML file."""
    from suanli.scenario._yaml import read_yaml

    try:
        data, text = read_yaml(path)
    except ScenarioError as e:
        raise PolicyError(e.place, e.problem, e.hint) from None
    return parse_policy(data, path, text)

"""Each rule kind at its thresholds, cumulative counting, approvals, and rule precedence."""

from __future__ import annotations

from typing import Any

import pytest
from gov_builders import CROSS_BORDER, engine, gjob, world

from suanli.core.cost import CostModel
from suanli.core.options import feasibility
from suanli.core.rules import Verdict
from suanli.governance.attributes import JobAttributes
from suanli.model import Classification, JobKind

ALLOW, DENY, ASK = Verdict.ALLOW, Verdict.DENY, Verdict.NEEDS_APPROVAL
P = Classification.PERSONAL


def verdict_at(eng: Any, j: Any, site_id: str) -> Verdict:
    s = eng.scenario
    v: Verdict = eng.check(j, s.sites[site_id], s).verdict
    return v


# ---------------------------------------------------------------- residency

RESIDENCY = {"id": "res", "kind": "residency", "classes": ["core", "important"]}


@pytest.mark.parametrize(
    ("cls", "tenant", "site", "expected"),
    [
        pytest.param(Classification.CORE, "t1", "sg", DENY, id="core abroad: deny"),
        pytest.param(Classification.IMPORTANT, "t1", "sg", DENY, id="important abroad: deny"),
        pytest.param(Classification.IMPORTANT, "t1", "gz", ALLOW, id="important at home: allow"),
        pytest.param(Classification.GENERAL, "t1", "sg", ALLOW, id="general abroad: allow"),
        pytest.param(Classification.GENERAL, "gov", "sg", DENY, id="general, tenant forbids"),
        pytest.param(Classification.GENERAL, "gov", "gz", ALLOW, id="forbidding tenant at home"),
    ],
)
def test_residency_keeps_core_and_important_data_home(
    cls: Classification, tenant: str, site: str, expected: Verdict
) -> None:
    eng = engine(RESIDENCY, tenants={"gov": {"forbidExport": True}})
    assert verdict_at(eng, gjob(cls=cls, tenant=tenant), site) is expected


def test_a_deny_names_its_rule_and_says_why() -> None:
    eng = engine(RESIDENCY)
    s = eng.scenario
    r = eng.check(gjob(cls=Classification.CORE), s.sites["sg"], s)
    assert (r.rule_id, r.message) == ("res", "core data homed in CN may not leave it (SG)")


# ---------------------------------------------------------------- cross-border PI volumes


@pytest.mark.parametrize(
    ("people", "sensitive", "contract", "expected"),
    [
        pytest.param(99_999, 0, False, ALLOW, id="99,999 people: exempt"),
        pytest.param(100_000, 0, False, DENY, id="100,000 people, no contract: deny"),
        pytest.param(100_000, 0, True, ALLOW, id="100,000 people, contract: allow"),
        pytest.param(999_999, 0, True, ALLOW, id="999,999 people, contract: allow"),
        pytest.param(1_000_000, 0, True, ASK, id="1,000,000 people: assessment"),
        pytest.param(0, 1, False, DENY, id="1 sensitive, no contract: deny"),
        pytest.param(0, 9_999, True, ALLOW, id="9,999 sensitive, contract: allow"),
        pytest.param(0, 10_000, True, ASK, id="10,000 sensitive: assessment"),
        pytest.param(50, 10_000, False, ASK, id="10,000 sensitive without contract: assessment"),
    ],
)
def test_cross_border_pi_thresholds(
    people: int, sensitive: int, contract: bool, expected: Verdict
) -> None:
    tenants = {"t1": {"standardContract": "SC-1"}} if contract else {}
    eng = engine(
        CROSS_BORDER, tenants=tenants, attributes={"j1": JobAttributes(people=people,
        sensitive_people=sensitive)}
    )  # fmt: skip
    assert verdict_at(eng, gjob(cls=P), "sg") is expected
    assert verdict_at(eng, gjob(cls=P), "gz") is ALLOW  # not an export


@pytest.mark.parametrize(
    ("prior", "earlier", "now", "expected"),
    [
        pytest.param(0, 60_000, 39_999, ALLOW, id="60,000 + 39,999: still exempt"),
        pytest.param(0, 60_000, 40_000, DENY, id="60,000 + 40,000 = 100,000: contract needed"),
        pytest.param(900_000, 0, 99_999, DENY, id="prior 900,000 + 99,999: contract needed"),
        pytest.param(500_000, 400_000, 100_000, ASK, id="500k + 400k + 100k = 1M: assessment"),
    ],
)
def test_cross_border_counts_a_tenants_exports_per_year(
    prior: int, earlier: int, now: int, expected: Verdict
) -> None:
    attrs = {"e": JobAttributes(people=earlier), "n": JobAttributes(people=now)}
    eng = engine(CROSS_BORDER, tenants={"t1": {"exportedPeople": prior}}, attributes=attrs)
    eng.record_placement(gjob("e", cls=P), "sg")
    assert eng.exported("t1", 2023) == (prior + earlier, 0)
    assert verdict_at(eng, gjob("n", cls=P, arrival=10.0), "sg") is expected


def test_cross_border_counters_restart_each_year() -> None:
    attrs = {"e": JobAttributes(people=99_999), "n": JobAttributes(people=1)}
    eng = engine(CROSS_BORDER, attributes=attrs)
    new_year = eng.counters._boundaries[0]  # 2024-01-01 in hours since the 2023-06-05 start
    eng.record_placement(gjob("e", cls=P), "sg")
    assert verdict_at(eng, gjob("n", cls=P, arrival=new_year - 1), "sg") is DENY
    assert verdict_at(eng, gjob("n", cls=P, arrival=new_year), "sg") is ALLOW
    assert eng.counters.year_of(new_year) == 2024


def test_placements_at_home_are_not_counted_as_exports() -> None:
    eng = engine(CROSS_BORDER, attributes={"e": JobAttributes(people=10)})
    eng.record_placement(gjob("e", cls=P), "gz")
    eng.record_placement(gjob("e", cls=Classification.GENERAL), "sg")
    assert eng.exported("t1", 2023) == (0, 0)


@pytest.mark.parametrize(
    ("rule", "tenants", "cls", "people", "expected"),
    [
        pytest.param({}, {}, Classification.IMPORTANT, 0, ASK, id="important data: assessment"),
        pytest.param(
            {"importantData": "deny"}, {}, Classification.IMPORTANT, 0, DENY, id="important: deny"
        ),
        pytest.param({}, {}, Classification.CORE, 0, DENY, id="core data: deny"),
        pytest.param({}, {"t1": {"ciio": True}}, P, 1, ASK, id="CIIO, 1 person: assessment"),
        pytest.param({}, {}, P, None, DENY, id="unknown count: deny by default"),
        pytest.param({"whenPeopleUnknown": "assessment"}, {}, P, None, ASK, id="unknown: ask"),
        pytest.param({"whenPeopleUnknown": "exempt"}, {}, P, None, ALLOW, id="unknown: exempt"),
        pytest.param({}, {}, Classification.PUBLIC, None, ALLOW, id="public data: no PI"),
    ],
)
def test_cross_border_special_cases(
    rule: dict[str, Any],
    tenants: dict[str, Any],
    cls: Classification,
    people: int | None,
    expected: Verdict,
) -> None:
    eng = engine(
        {**CROSS_BORDER, **rule}, tenants=tenants, attributes={"j1": JobAttributes(people=people)}
    )
    assert verdict_at(eng, gjob(cls=cls), "sg") is expected


def test_an_approved_assessment_allows_and_a_denied_one_denies() -> None:
    eng = engine(CROSS_BORDER, attributes={"j1": JobAttributes(people=2_000_000)})
    j = gjob(cls=P)
    s = eng.scenario
    result = eng.check(j, s.sites["sg"], s)
    assert result.verdict is ASK and "security assessment" in result.message
    assert eng.needs_approval == {"j1": {"sg": result}}
    req = eng.approvals.request("j1", result.rule_id, result.message, 0.0)
    eng.approvals.approve(req.id, "CAC-SA-2026-0001", 48.0)
    assert verdict_at(eng, j, "sg") is ALLOW
    other = engine(CROSS_BORDER, attributes={"j1": JobAttributes(people=2_000_000)})
    req = other.approvals.request("j1", "pi", "assessment", 0.0)
    other.approvals.deny(req.id, "insufficient safeguards", 24.0)
    denied = other.check(j, s.sites["sg"], s)
    assert denied.verdict is DENY and "insufficient safeguards" in denied.message


def test_deny_beats_needs_approval_whatever_the_rule_order() -> None:
    attrs = {"j1": JobAttributes(people=2_000_000)}
    cap = {"id": "cap", "kind": "powerCap", "capsMw": {"sg": 0.00005}}
    for rules in ((CROSS_BORDER, cap), (cap, CROSS_BORDER)):
        eng = engine(*rules, attributes=attrs)
        r = eng.check(gjob(cls=P), eng.scenario.sites["sg"], eng.scenario)
        assert (r.verdict, r.rule_id) == (DENY, "cap")


# ---------------------------------------------------------------- model filing

FILING = {"id": "filing", "kind": "modelFiling", "jurisdictions": ["CN"]}
MODELS = [
    {"id": "base", "filingNumber": "F-1"},
    {"id": "tuned", "baseModel": "base"},
    {"id": "tuned-filed", "baseModel": "base", "filingNumber": "F-2"},
]


@pytest.mark.parametrize(
    ("attrs", "kind", "users", "expected", "says"),
    [
        pytest.param(JobAttributes("base", True), JobKind.ONLINE_INFERENCE, "bj", ALLOW, "",
                     id="filed model: allow"),
        pytest.param(JobAttributes("tuned", True), JobKind.ONLINE_INFERENCE, "bj", DENY,
                     "fine-tuned from 'base' (filing F-1) but has no filing of its own",
                     id="fine-tuned without own filing: deny"),
        pytest.param(JobAttributes("tuned-filed", True), JobKind.ONLINE_INFERENCE, "bj", ALLOW,
                     "", id="fine-tuned with own filing: allow"),
        pytest.param(JobAttributes("nope", True), JobKind.ONLINE_INFERENCE, "bj", DENY,
                     "model 'nope' is not filed", id="unknown model: deny"),
        pytest.param(JobAttributes(None, True), JobKind.ONLINE_INFERENCE, "bj", DENY,
                     "must name its filed model", id="no model named: deny"),
        pytest.param(JobAttributes("nope", False), JobKind.ONLINE_INFERENCE, "bj", ALLOW, "",
                     id="internal service: allow"),
        pytest.param(JobAttributes("nope", True, generative=False), JobKind.ONLINE_INFERENCE,
                     "bj", ALLOW, "", id="not generative: allow"),
        pytest.param(JobAttributes("nope", True), JobKind.BATCH_INFERENCE, "bj", ALLOW, "",
                     id="batch inference is no service: allow"),
        pytest.param(JobAttributes("nope", True), JobKind.ONLINE_INFERENCE, "sg", ALLOW, "",
                     id="users abroad: not in scope"),
    ],
)  # fmt: skip
def test_public_generative_ai_needs_a_filed_model(
    attrs: JobAttributes, kind: JobKind, users: str, expected: Verdict, says: str
) -> None:
    eng = engine(FILING, models=MODELS, attributes={"j1": attrs})
    r = eng.check(gjob(kind=kind, users=users), eng.scenario.sites["bj"], eng.scenario)
    assert r.verdict is expected
    assert says in r.message


# ---------------------------------------------------------------- sector, accelerators, power

HEALTH = {"id": "health", "kind": "sectorLocality", "sector": "healthcare", "classes": ["personal"]}


@pytest.mark.parametrize(
    ("rule", "tenant", "cls", "site", "expected"),
    [
        pytest.param(HEALTH, "health", P, "tj", ALLOW, id="health PI in its hub: allow"),
        pytest.param(HEALTH, "health", P, "gz", DENY, id="health PI in another hub: deny"),
        pytest.param(HEALTH, "health", Classification.GENERAL, "gz", ALLOW, id="general: allow"),
        pytest.param(HEALTH, "t1", P, "gz", ALLOW, id="other sector: allow"),
        pytest.param({**HEALTH, "scope": "site"}, "health", P, "tj", DENY, id="site scope"),
        pytest.param({**HEALTH, "scope": "jurisdiction"}, "health", P, "gz", ALLOW, id="country"),
    ],
)
def test_sector_locality(
    rule: dict[str, Any], tenant: str, cls: Classification, site: str, expected: Verdict
) -> None:
    assert verdict_at(engine(rule), gjob(tenant=tenant, cls=cls), site) is expected


ONLY_T4 = {"id": "t4", "kind": "acceleratorAllowList", "tenants": ["gov"], "allow": ["T4"]}


@pytest.mark.parametrize(
    ("rule", "tenant", "site", "expected"),
    [
        pytest.param(ONLY_T4, "gov", "bj", ALLOW, id="site has an allowed type"),
        pytest.param(ONLY_T4, "gov", "tj", DENY, id="site has no allowed type"),
        pytest.param(ONLY_T4, "t1", "tj", ALLOW, id="other tenant"),
        pytest.param({**ONLY_T4, "jurisdictions": ["SG"]}, "gov", "tj", ALLOW, id="other country"),
        pytest.param(
            {"id": "d", "kind": "acceleratorAllowList", "sectors": ["finance"],
             "domesticOnly": True}, "fin", "bj", DENY, id="domestic only, none here",
        ),
    ],
)  # fmt: skip
def test_accelerator_allow_lists(
    rule: dict[str, Any], tenant: str, site: str, expected: Verdict
) -> None:
    eng = engine(rule)
    j = gjob(tenant=tenant)
    assert verdict_at(eng, j, site) is expected


def test_allowed_types_narrow_a_jobs_types_at_a_site() -> None:
    eng = engine(ONLY_T4)
    s = eng.scenario
    assert eng.allowed_types(gjob(tenant="gov"), s.sites["bj"]) == {"T4"}
    assert eng.allowed_types(gjob(tenant="t1"), s.sites["bj"]) == {"A100", "H800", "T4"}


@pytest.mark.parametrize(
    ("gpus", "cap_mw", "expected"),
    [
        # the cheapest acceptable pool at bj is T4: 0.1 kW per accelerator, PUE 1.0
        pytest.param(8, 0.0008, ALLOW, id="exactly at the cap: allow"),
        pytest.param(8, 0.00079, DENY, id="just above the cap: deny"),
    ],
)
def test_power_caps(gpus: int, cap_mw: float, expected: Verdict) -> None:
    eng = engine({"id": "cap", "kind": "powerCap", "capsMw": {"bj": cap_mw}})
    assert verdict_at(eng, gjob(gpus=gpus), "bj") is expected
    assert verdict_at(eng, gjob(gpus=gpus), "tj") is ALLOW  # the scenario's 10 MW cap


GREEN = {"id": "green", "kind": "greenPower", "minShare": {"south": 0.1}}


@pytest.mark.parametrize(
    ("rule", "kind", "site", "expected"),
    [
        # gz: carbon 0.8 -> estimated share 1 - 0.8/0.8325 = 3.9%
        pytest.param(GREEN, JobKind.TRAIN, "gz", DENY, id="estimated share below minimum"),
        pytest.param(GREEN, JobKind.TRAIN, "bj", ALLOW, id="hub without a minimum"),
        pytest.param({**GREEN, "siteShare": {"gz": 0.1}}, JobKind.TRAIN, "gz", ALLOW,
                     id="declared share at the minimum"),
        pytest.param({**GREEN, "jobKinds": ["finetune"]}, JobKind.TRAIN, "gz", ALLOW,
                     id="other job kinds only"),
    ],
)  # fmt: skip
def test_green_power_minimums(
    rule: dict[str, Any], kind: JobKind, site: str, expected: Verdict
) -> None:
    assert verdict_at(engine(rule), gjob(kind=kind), site) is expected


def test_a_job_no_site_may_take_gets_every_sites_reason() -> None:
    eng = engine(RESIDENCY, HEALTH, {**ONLY_T4, "tenants": ["health"]})
    j = gjob(tenant="health", cls=P, types=("A100", "H800"))
    f = feasibility(j, CostModel(world()), eng)
    assert f.options == []
    assert f.excluded == {
        "bj": "t4: health may use only T4 here; the site offers A100 of the job's types",
        "tj": "t4: health may use only T4 here; the site offers A100 of the job's types",
        "gz": "health: healthcare personal data homed at bj is processed only within hub north",
        "sg": "health: healthcare personal data homed at bj is processed only within hub north",
    }

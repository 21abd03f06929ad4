"""The engine's per-static-key cache never changes an answer."""

from __future__ import annotations

import pytest
from gov_builders import CROSS_BORDER, engine, gjob
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.core.cost import CostModel
from suanli.core.options import FeasibilityCheck
from suanli.governance.attributes import JobAttributes
from suanli.governance.engine import GovernanceEngine
from suanli.model import Classification, Job, JobKind

RULES = (
    {"id": "res", "kind": "residency", "classes": ["core", "important"]},
    CROSS_BORDER,
    {"id": "filing", "kind": "modelFiling", "jurisdictions": ["CN"]},
    {"id": "health", "kind": "sectorLocality", "sector": "healthcare", "classes": ["personal"]},
    {"id": "t4", "kind": "acceleratorAllowList", "tenants": ["gov"], "allow": ["T4"]},
    {"id": "cap", "kind": "powerCap", "capsMw": {"bj": 0.0005}},
    {"id": "green", "kind": "greenPower", "minShare": {"south": 0.1}},
)
TENANTS = {"gov": {"forbidExport": True}, "fin": {"standardContract": "SC"}}
MODELS = [{"id": "base", "filingNumber": "F"}, {"id": "ft", "baseModel": "base"}]

jobs = st.builds(
    lambda i, tenant, home, cls, kind, types, users, gpus, attrs: (
        gjob(f"j{i}", tenant=tenant, home=home, cls=cls, kind=kind, types=types, users=users,
             gpus=gpus),
        attrs,
    ),
    st.integers(0, 5),
    st.sampled_from(["t1", "fin", "health", "gov"]),
    st.sampled_from(["bj", "gz", "sg"]),
    st.sampled_from(list(Classification)),
    st.sampled_from(list(JobKind)),
    st.sampled_from([("A100",), ("T4",), ("H800",), ("A100", "H800", "T4")]),
    st.sampled_from([None, "bj", "sg"]),
    st.sampled_from([1.0, 4.0, 8.0]),
    st.builds(
        JobAttributes,
        st.sampled_from([None, "base", "ft"]),
        st.booleans(),
        st.booleans(),
        st.sampled_from([None, 0, 99_999, 100_000, 1_000_000]),
        st.sampled_from([0, 9_999, 10_000]),
    ),
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(jobs, min_size=1, max_size=12))
def test_a_warm_engine_answers_as_a_fresh_one(batch: list[tuple[Job, JobAttributes]]) -> None:
    attrs = {j.id: a for j, a in batch}
    warm = engine(*RULES, tenants=TENANTS, models=MODELS, attributes=attrs)
    s = warm.scenario
    for j, _ in batch:
        fresh = engine(*RULES, tenants=TENANTS, models=MODELS, attributes=attrs)
        for site in s.sites.values():
            assert warm.check(j, site, s) == fresh.check(j, site, s)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(jobs, min_size=1, max_size=10),
    st.sampled_from(["t1", "fin", "gov"]),
    st.sampled_from([0, 99_999, 950_000]),
    st.booleans(),
)
def test_a_prepared_feasibility_resolves_in_any_state_as_a_fresh_check_does(
    batch: list[tuple[Job, JobAttributes]], exporter: str, exported: int, approve: bool
) -> None:
    """`FeasibilityCheck.prepare` under one engine, `resolve` under another engine of the same
    policy whose counters and approvals have moved on: the same answer, site order included,
    as a cold check of an engine in that state."""
    earlier = gjob("earlier", tenant=exporter, cls=Classification.PERSONAL)
    attrs = {j.id: a for j, a in batch} | {"earlier": JobAttributes(people=exported)}

    def later() -> GovernanceEngine:
        e = engine(*RULES, tenants=TENANTS, models=MODELS, attributes=attrs)
        e.record_placement(earlier, "sg")
        if approve:
            for jid in attrs.keys() - {"earlier"}:
                e.approvals.approve(e.approvals.request(jid, "pi", "test", 0.0).id, "ev", 1.0)
        return e

    base = engine(*RULES, tenants=TENANTS, models=MODELS, attributes=attrs)
    cost = CostModel(base.scenario)
    prepare = FeasibilityCheck(cost, base).prepare
    prepared = [prepare(j) for j, _ in batch]
    warm = FeasibilityCheck(cost, later())
    for (j, _), p in zip(batch, prepared, strict=True):
        got = warm.resolve(p, j)
        want = FeasibilityCheck(cost, later())(j)
        assert got.options == want.options and not got.unresolved
        assert list(got.excluded.items()) == list(want.excluded.items())


@pytest.mark.parametrize(
    ("types", "exported_before", "sg_reason"),
    [
        pytest.param(("A100",), 0, None, id="exempt-and-sg-has-the-type"),
        pytest.param(("H800",), 0, "accelerators:", id="exempt-but-sg-lacks-the-type"),
        pytest.param(("A100",), 1, "pi:", id="one-person-more-needs-a-contract"),
        pytest.param(("H800",), 1, "pi:", id="the-rule-is-named-before-the-type"),
    ],
)  # fmt: skip
def test_a_prepared_feasibility_leaves_the_export_site_to_the_runs_state(
    types: tuple[str, ...], exported_before: int, sg_reason: str | None
) -> None:
    job = gjob("j", cls=Classification.PERSONAL, types=types)
    earlier = gjob("earlier", cls=Classification.PERSONAL)
    attrs = {"j": JobAttributes(people=99_999), "earlier": JobAttributes(people=exported_before)}
    base = engine(*RULES, tenants=TENANTS, models=MODELS, attributes=attrs)
    cost = CostModel(base.scenario)
    prepared = FeasibilityCheck(cost, base).prepare(job)
    assert [base.scenario.site_ids[i] for i, _ in prepared.unresolved] == ["sg"]
    run = engine(*RULES, tenants=TENANTS, models=MODELS, attributes=attrs)
    run.record_placement(earlier, "sg")
    f = FeasibilityCheck(cost, run).resolve(prepared, job)
    sites = {o.site for o in f.options}
    if sg_reason is None:
        assert "sg" in sites and "sg" not in f.excluded
    else:
        assert "sg" not in sites and f.excluded["sg"].startswith(sg_reason)
    assert list(f.excluded) == [s for s in base.scenario.site_ids if s in f.excluded]


def test_an_engine_shares_static_facts_only_with_one_of_the_same_policy_and_scenario() -> None:
    base = engine(*RULES, tenants=TENANTS, models=MODELS)
    jobs_ = [gjob(f"j{i}", tenant=t, cls=c) for i, (t, c) in enumerate(
        [("t1", Classification.PERSONAL), ("gov", Classification.GENERAL),
         ("health", Classification.PERSONAL)])]  # fmt: skip
    for j in jobs_:
        base.screen_key(j)
    shared = GovernanceEngine(base.policy, base.scenario, static_from=base)
    fresh = GovernanceEngine(base.policy, base.scenario)
    for j in jobs_:
        assert shared.screen_key(j) == fresh.screen_key(j)
        assert shared.type_limits(j) == fresh.type_limits(j)
        for site in base.scenario.sites.values():
            assert shared.check(j, site, base.scenario) == fresh.check(j, site, base.scenario)
    other = engine(*RULES[:2])
    with pytest.raises(ValueError, match="same policy and scenario"):
        GovernanceEngine(other.policy, base.scenario, static_from=base)

"""The engine's per-static-key cache never changes an answer."""

from __future__ import annotations

from gov_builders import CROSS_BORDER, engine, gjob
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.governance.attributes import JobAttributes
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

"""Queue and cohort configuration: validation errors and quota accounting."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.core.queueing import QuotaBook, parse_queueing
from suanli.errors import ScenarioError

FLAVORS = ("A100", "H800")
TENANTS = ("a", "b", "c")


def cfg(**raw: Any) -> Any:
    return parse_queueing(raw, FLAVORS, TENANTS, "queueing")


def two_queues(a: Any, b: Any) -> Any:
    return cfg(
        cohorts=[{"name": "all"}],
        queues=[
            {"name": "qa", "tenants": ["a"], "cohort": "all", "quotas": {"A100": a}},
            {"name": "qb", "tenants": ["b"], "cohort": "all", "quotas": {"A100": b}},
        ],
    )


@pytest.mark.parametrize(
    ("raw", "place", "problem"),
    [
        pytest.param(
            {
                "cohorts": [{"name": "x", "parent": "y"}, {"name": "y", "parent": "x"}],
                "queues": [{"name": "q", "tenants": ["a"]}],
            },
            "queueing.cohorts",
            "cohort cycle: x -> y -> x",
            id="cohort-cycle",
        ),
        pytest.param(
            {"queues": [{"name": "q", "tenants": ["a"], "quotas": {"TPU": 4}}]},
            "queueing.queues[0].quotas.TPU",
            "quota on unknown flavor 'TPU'",
            id="unknown-flavor",
        ),
        pytest.param(
            {
                "cohorts": [{"name": "c"}],
                "queues": [
                    {
                        "name": "q",
                        "tenants": ["a"],
                        "cohort": "c",
                        "quotas": {"A100": {"nominal": 4, "borrowing_limit": -1}},
                    }
                ],
            },
            "queueing.queues[0].quotas.A100.borrowing_limit",
            "negative limit -1",
            id="negative-limit",
        ),
        pytest.param(
            {"queues": [{"name": "q", "tenants": ["z"]}]},
            "queueing.queues[0].tenants",
            "unknown tenant 'z'",
            id="unknown-tenant",
        ),
        pytest.param(
            {"queues": [{"name": "q", "tenants": ["a"], "cohort": "nope"}]},
            "queueing.queues[0].cohort",
            "unknown cohort 'nope'",
            id="unknown-cohort",
        ),
        pytest.param(
            {"queues": [{"name": "q", "tenants": ["a"]}, {"name": "r", "tenants": ["a"]}]},
            "queueing.queues[1].tenants",
            "tenant 'a' is already in queue 'q'",
            id="tenant-in-two-queues",
        ),
        pytest.param(
            {
                "cohorts": [{"name": "c"}],
                "queues": [
                    {
                        "name": "q",
                        "tenants": ["a"],
                        "cohort": "c",
                        "quotas": {"A100": {"nominal": 2, "lending_limit": 3}},
                    }
                ],
            },
            "queueing.queues[0].quotas.A100.lending_limit",
            "lends 3.0 of a nominal quota of 2.0",
            id="lends-more-than-nominal",
        ),
        pytest.param(
            {
                "queues": [
                    {
                        "name": "q",
                        "tenants": ["a"],
                        "quotas": {"A100": {"nominal": 2, "borrowing_limit": 1}},
                    }
                ]
            },
            "queueing.queues[0].quotas.A100",
            "borrowing and lending limits need the queue to be in a cohort",
            id="borrowing-outside-cohort",
        ),
        pytest.param(
            {"queues": []}, "queueing.queues", "at least one queue is needed", id="no-queue"
        ),
    ],
)
def test_a_bad_queueing_section_is_a_scenario_error_naming_its_path(
    raw: dict[str, Any], place: str, problem: str
) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_queueing(raw, FLAVORS, TENANTS, "queueing")
    assert (err.value.place, err.value.problem) == (place, problem)


@pytest.mark.parametrize(
    ("a", "b", "used_b", "request_a", "fits"),
    [
        pytest.param(4, 4, 0, 4, True, id="within-nominal"),
        pytest.param(4, 4, 0, 8, True, id="borrows-the-idle-neighbours-quota"),
        pytest.param(4, 4, 2, 7, False, id="cannot-borrow-what-the-neighbour-uses"),
        pytest.param({"nominal": 4, "borrowing_limit": 2}, 4, 0, 7, False, id="borrowing-limit"),
        pytest.param(4, {"nominal": 4, "lending_limit": 1}, 0, 6, False, id="lending-limit"),
        pytest.param(4, {"nominal": 4, "lending_limit": 1}, 0, 5, True, id="within-lending-limit"),
        pytest.param(0, 4, 4, 1, False, id="no-quota-nothing-to-borrow"),
    ],
)
def test_a_request_fits_nominal_plus_what_the_cohort_lends(
    a: Any, b: Any, used_b: int, request_a: int, fits: bool
) -> None:
    book = QuotaBook(two_queues(a, b))
    book.admit("qb", "A100", used_b * 1000)
    assert book.fits("qa", "A100", request_a * 1000) is fits
    assert book.headroom("qa", "A100") >= (request_a * 1000 if fits else 0)


def test_admit_and_release_are_inverse_and_the_book_reports_no_violation() -> None:
    book = QuotaBook(two_queues(4, 4))
    book.admit("qa", "A100", 6000)
    assert book.borrowed("qa", "A100") == 2000
    assert book.violations() == []
    book.release("qa", "A100", 6000)
    assert book.usage == {"qa": {"A100": 0}, "qb": {}}


def test_a_queue_outside_any_cohort_is_capped_at_its_nominal_quota() -> None:
    book = QuotaBook(cfg(queues=[{"name": "q", "tenants": ["a"], "quotas": {"A100": 2}}]))
    assert book.fits("q", "A100", 2000)
    assert not book.fits("q", "A100", 2001)


# (site, hub, type) of each pool: two sites in hub "north", one in "west"
POOLS = [("s1", "north", "A100"), ("s2", "north", "H800"), ("s3", "west", "A100")]


def scoped(scope: str, quotas: dict[str, Any]) -> Any:
    raw = {"flavorScope": scope, "queues": [{"name": "q", "tenants": ["a"], "quotas": quotas}]}
    return parse_queueing(raw, FLAVORS, TENANTS, "queueing", POOLS)


@pytest.mark.parametrize(
    ("scope", "accelerator", "site", "flavor"),
    [
        pytest.param("network", "A100", "s3", "A100", id="network-the-type-anywhere"),
        pytest.param("hub", "A100", "s3", "A100@west", id="hub-the-type-in-the-site-s-hub"),
        pytest.param("hub", "H800", "s2", "H800@north", id="hub-another-type"),
        pytest.param("site", "A100", "s1", "A100@s1", id="site-the-type-at-the-site"),
    ],
)
def test_a_flavor_is_the_type_in_the_configured_scope(
    scope: str, accelerator: str, site: str, flavor: str
) -> None:
    quota = {flavor: 1}
    assert scoped(scope, quota).flavor(accelerator, site) == flavor


@pytest.mark.parametrize(
    ("scope", "quotas", "place", "problem"),
    [
        pytest.param(
            "hub", {"A100": 1}, "queueing.queues[0].quotas.A100",
            "quota on unknown flavor 'A100'", id="hub-scope-needs-the-hub-in-the-name",
        ),
        pytest.param(
            "hub", {"A100@east": 1}, "queueing.queues[0].quotas.A100@east",
            "quota on unknown flavor 'A100@east'", id="unknown-hub",
        ),
        pytest.param(
            "zone", {"A100": 1}, "queueing.flavorScope", "unknown scope 'zone'", id="bad-scope"
        ),
    ],
)  # fmt: skip
def test_a_bad_flavor_scope_is_a_scenario_error_naming_its_path(
    scope: str, quotas: dict[str, Any], place: str, problem: str
) -> None:
    with pytest.raises(ScenarioError) as err:
        scoped(scope, quotas)
    assert (err.value.place, err.value.problem) == (place, problem)


def test_the_hint_of_an_unknown_flavor_lists_the_scope_s_flavors() -> None:
    with pytest.raises(ScenarioError) as err:
        scoped("hub", {"A100": 1})
    assert err.value.hint == "choose from A100@north, A100@west, H800@north"


def test_an_unknown_key_of_the_queueing_section_is_an_error() -> None:
    with pytest.raises(ScenarioError) as err:
        parse_queueing({"queues": [], "flavourScope": "hub"}, FLAVORS, TENANTS, "queueing")
    assert (err.value.place, err.value.problem) == ("queueing", "unknown keys ['flavourScope']")


STEP = st.tuples(
    st.sampled_from(["qa", "qb", "qc"]),
    st.sampled_from(FLAVORS),
    st.integers(0, 9000),
    st.booleans(),
)
MIXED = [
    {"name": "qa", "tenants": ["a"], "cohort": "all",
     "quotas": {"A100": {"nominal": 4, "lendingLimit": 1.5}, "H800": 2}},
    {"name": "qb", "tenants": ["b"], "cohort": "all", "quotas": {"A100": 3.25}},
    {"name": "qc", "tenants": ["c"], "quotas": {"H800": 1}},
]  # fmt: skip


@given(st.lists(STEP, max_size=40))
def test_the_pool_s_running_sums_equal_a_walk_over_its_members(
    steps: list[tuple[str, str, int, bool]],
) -> None:
    book = QuotaBook(cfg(cohorts=[{"name": "all"}], queues=MIXED))
    for queue, flavor, milli, add in steps:
        if add:
            book.admit(queue, flavor, milli)
        elif book.used(queue, flavor) >= milli:
            book.release(queue, flavor, milli)
        for q in ("qa", "qb", "qc"):
            for f in FLAVORS:
                walk = 0.0
                for m in book._members[book._pool_of[q]]:
                    fq = book.config.queues[m].quotas.get(f)
                    n = fq.nominal * 1000 if fq else 0.0
                    g = fq.guaranteed * 1000 if fq else 0.0
                    walk += n - g - max(0.0, book.used(m, f) - g)
                assert book.pool_free(q, f) == pytest.approx(walk, abs=1e-6)


def with_classes(classes: Any) -> Any:
    return cfg(queues=[{"name": "q", "tenants": ["a"]}], priorityClasses=classes)


def test_priority_classes_are_read_with_their_preemption_policy_and_default() -> None:
    config = with_classes(
        [
            {"name": "urgent", "value": 100},
            {"name": "batch", "value": -10, "preemptionPolicy": "Never", "globalDefault": True},
        ]
    )
    urgent, batch = config.priority_classes["urgent"], config.priority_classes["batch"]
    assert (urgent.value, urgent.preempts, batch.value, batch.preempts) == (100, True, -10, False)
    assert config.default_class == "batch"


@pytest.mark.parametrize(
    ("classes", "place", "problem"),
    [
        pytest.param(
            [{"name": "u", "value": 1}, {"name": "u", "value": 2}],
            "queueing.priorityClasses[1].name", "priority class 'u' is defined twice", id="twice",
        ),
        pytest.param(
            [{"name": "u", "value": 1.5}], "queueing.priorityClasses[0].value",
            "must be a whole number in [-1000, 1000], got 1.5", id="not-whole",
        ),
        pytest.param(
            [{"name": "u", "value": 5000}], "queueing.priorityClasses[0].value",
            "must be a whole number in [-1000, 1000], got 5000", id="out-of-range",
        ),
        pytest.param(
            [{"name": "u", "value": 1, "preemptionPolicy": "Sometimes"}],
            "queueing.priorityClasses[0].preemptionPolicy",
            "unknown preemption policy 'Sometimes'", id="bad-preemption-policy",
        ),
        pytest.param(
            [{"name": "u", "value": 1, "globalDefault": True},
             {"name": "v", "value": 2, "globalDefault": True}],
            "queueing.priorityClasses[1].globalDefault", "'u' is already the default class",
            id="two-defaults",
        ),
    ],
)  # fmt: skip
def test_a_bad_priority_class_is_a_scenario_error_naming_its_path(
    classes: Any, place: str, problem: str
) -> None:
    with pytest.raises(ScenarioError) as err:
        with_classes(classes)
    assert (err.value.place, err.value.problem) == (place, problem)

"""Queue and cohort configuration: validation errors and quota accounting."""

from __future__ import annotations

from typing import Any

import pytest

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

"""Each fair-share and preemption rule, table-driven, in a test named after the rule."""

from __future__ import annotations

import pytest

from suanli.core.queueing import QuotaBook, parse_queueing
from suanli.core.queueing.fairshare import (
    DecayedUsage,
    jain_index,
    rule_dominant_share,
    rule_entitled_share,
    rule_lower_share_first,
)
from suanli.core.queueing.preemption import (
    RECLAIM_BACKOFF_BASE_H,
    RECLAIM_BACKOFF_MAX_H,
    Outcome,
    Request,
    Running,
    rule_least_waste_first,
    rule_reclaim_backoff,
    rule_reclaim_within_cohort,
    rule_within_queue_lower_priority,
    select_victims,
    wasted_h,
)
from suanli.errors import SchedulingError


def book() -> QuotaBook:
    raw = {
        "cohorts": [{"name": "all"}],
        "queues": [
            {"name": "qa", "tenants": ["a"], "cohort": "all", "quotas": {"A100": 4}},
            {"name": "qb", "tenants": ["b"], "cohort": "all", "quotas": {"A100": 4}},
            {"name": "solo", "tenants": ["c"], "quotas": {"A100": 4}},
        ],
    }
    return QuotaBook(parse_queueing(raw, ["A100", "H800"], ["a", "b", "c"], "q"))


def run(
    job: str,
    queue: str,
    gpus: int,
    prio: int = 0,
    start: float = 0.0,
    ckpt: float | None = None,
    flavor: str = "A100",
) -> Running:
    return Running(job, queue, flavor, gpus * 1000, prio, start, ckpt)


@pytest.mark.parametrize(
    ("usage", "capacity", "weight", "share"),
    [
        pytest.param({"A100": 2.0}, {"A100": 8.0}, 1.0, 0.25, id="one-flavor"),
        pytest.param(
            {"A100": 2.0, "H800": 3.0},
            {"A100": 8.0, "H800": 4.0},
            1.0,
            0.75,
            id="dominant-is-the-largest-share",
        ),
        pytest.param({"A100": 4.0}, {"A100": 8.0}, 2.0, 0.25, id="weight-divides"),
        pytest.param({}, {"A100": 8.0}, 1.0, 0.0, id="idle"),
    ],
)
def test_rule_dominant_share(
    usage: dict[str, float], capacity: dict[str, float], weight: float, share: float
) -> None:
    assert rule_dominant_share(usage, capacity, weight) == pytest.approx(share)


@pytest.mark.parametrize(
    ("a", "b", "a_first"),
    [
        pytest.param(0.1, 0.2, True, id="lower-share-first"),
        pytest.param(0.2, 0.1, False, id="higher-share-later"),
        pytest.param(0.1 - 1e-12, 0.1, False, id="shares-equal-to-rounding-tie"),
    ],
)
def test_rule_lower_share_first(a: float, b: float, a_first: bool) -> None:
    assert (rule_lower_share_first(a) < rule_lower_share_first(b)) is a_first


@pytest.mark.parametrize(
    ("weights", "active", "entitled"),
    [
        pytest.param({"a": 1.0, "b": 3.0}, {"a", "b"}, {"a": 0.25, "b": 0.75}, id="by-weight"),
        pytest.param({"a": 1.0, "b": 3.0}, {"a"}, {"a": 1.0}, id="idle-queue-share-goes-to-others"),
        pytest.param({"a": 1.0}, set(), {}, id="nobody-active"),
    ],
)
def test_rule_entitled_share(
    weights: dict[str, float], active: set[str], entitled: dict[str, float]
) -> None:
    assert rule_entitled_share(weights, active) == pytest.approx(entitled)


@pytest.mark.parametrize(
    ("hold_h", "idle_h", "average"),
    [
        pytest.param(1000.0, 0.0, 4.0, id="converges-to-usage"),
        pytest.param(1000.0, 10.0, 2.0, id="halves-after-one-half-life"),
        pytest.param(1000.0, 20.0, 1.0, id="quarters-after-two"),
        pytest.param(10.0, 0.0, 2.0, id="half-way-after-one-half-life"),
    ],
)
def test_rule_usage_decays_with_half_life(hold_h: float, idle_h: float, average: float) -> None:
    d = DecayedUsage(half_life_h=10.0)
    d.change(0.0, "qa", "A100", 4.0)
    d.change(hold_h, "qa", "A100", -4.0)
    d.advance(hold_h + idle_h)
    assert d.of("qa", "A100") == pytest.approx(average, rel=1e-6)


def test_decayed_usage_restored_from_a_snapshot_decays_as_the_original_does() -> None:
    """A snapshot taken while a queue holds usage, restored into a fresh instance that counts
    the held usage again at the snapshot's time, matches the original at every later time."""
    d = DecayedUsage(half_life_h=10.0)
    d.change(0.0, "qa", "A100", 4.0)
    d.change(3.0, "qb", "A100", 2.0)
    d.change(7.0, "qa", "A100", -4.0)
    d.advance(9.5)
    at, average = d.snapshot()
    assert at == 9.5 and average == d.average and average is not d.average
    again = DecayedUsage(half_life_h=10.0)
    again.restore(at, average)
    assert again.now == 9.5 and again.of("qa", "A100") == d.of("qa", "A100")
    again.change(at, "qb", "A100", 2.0)  # what was held then, counted again
    for t in (9.5, 12.0, 30.0):
        d.advance(t)
        again.advance(t)
        for q in ("qa", "qb"):
            assert again.of(q, "A100") == pytest.approx(d.of(q, "A100"), rel=1e-12)
    # qa held 4 from 0 to 7 h, then nothing: at 30 h its average has halved 2.3 times since
    assert again.of("qa", "A100") == pytest.approx(4 * (1 - 2**-0.7) * 2**-2.3, rel=1e-12)


def test_decayed_usage_refuses_a_snapshot_that_is_not_finite() -> None:
    d = DecayedUsage(half_life_h=10.0)
    with pytest.raises(SchedulingError):
        d.restore(float("nan"), {})
    with pytest.raises(SchedulingError):
        d.restore(1.0, {("qa", "A100"): float("inf")})


@pytest.mark.parametrize(
    ("values", "index"),
    [
        pytest.param([1.0, 1.0, 1.0], 1.0, id="equal"),
        pytest.param([1.0, 0.0], 0.5, id="one-of-two-served"),
        pytest.param([], 1.0, id="empty"),
    ],
)
def test_rule_jain_index(values: list[float], index: float) -> None:
    assert jain_index(values) == pytest.approx(index)


@pytest.mark.parametrize(
    ("req", "victim", "allowed"),
    [
        pytest.param(
            Request("qa", "A100", 1000, 5),
            run("v", "qa", 1, prio=1),
            True,
            id="lower-priority-same-queue",
        ),
        pytest.param(
            Request("qa", "A100", 1000, 5),
            run("v", "qa", 1, prio=5),
            False,
            id="equal-priority-never",
        ),
        pytest.param(
            Request("qa", "A100", 1000, 5),
            run("v", "qb", 1, prio=1),
            False,
            id="other-queue-not-by-this-rule",
        ),
    ],
)
def test_rule_within_queue_lower_priority(req: Request, victim: Running, allowed: bool) -> None:
    assert rule_within_queue_lower_priority(req, victim) is allowed


@pytest.mark.parametrize(
    ("qb_used", "qa_used", "req", "victim_queue", "allowed"),
    [
        pytest.param(6, 0, 2, "qb", True, id="reclaims-from-a-borrower"),
        pytest.param(4, 0, 2, "qb", False, id="victim-not-borrowing"),
        pytest.param(6, 3, 2, "qb", False, id="requester-would-exceed-nominal"),
        pytest.param(6, 0, 2, "solo", False, id="not-in-the-cohort"),
    ],
)
def test_rule_reclaim_within_cohort(
    qb_used: int, qa_used: int, req: int, victim_queue: str, allowed: bool
) -> None:
    b = book()
    b.admit("qb", "A100", qb_used * 1000)
    b.admit("qa", "A100", qa_used * 1000)
    b.admit("solo", "A100", 4000)
    victim = run("v", victim_queue, 1)
    assert rule_reclaim_within_cohort(Request("qa", "A100", req * 1000, 0), victim, b) is allowed


@pytest.mark.parametrize(
    ("a", "b", "a_first"),
    [
        pytest.param(
            run("a", "q", 1, start=9.0),
            run("b", "q", 1, start=1.0),
            True,
            id="less-work-since-start-first",
        ),
        pytest.param(
            run("a", "q", 1, start=1.0, ckpt=2.0),
            run("b", "q", 1, start=7.5),
            True,
            id="checkpoint-limits-the-loss",
        ),
        pytest.param(
            run("a", "q", 8, start=9.0),
            run("b", "q", 1, start=5.0),
            False,
            id="waste-counts-accelerators",
        ),
        pytest.param(
            run("a", "q", 1, prio=0, start=5.0),
            run("b", "q", 1, prio=3, start=5.0),
            True,
            id="equal-waste-lower-priority-first",
        ),
    ],
)
def test_rule_least_waste_first(a: Running, b: Running, a_first: bool) -> None:
    now = 10.0
    assert (rule_least_waste_first(a, now) < rule_least_waste_first(b, now)) is a_first


@pytest.mark.parametrize(
    ("start", "ckpt", "wasted"),
    [
        pytest.param(0.0, None, 10.0, id="no-checkpoint-all-lost"),
        pytest.param(0.0, 3.0, 1.0, id="since-last-checkpoint"),
        pytest.param(4.0, 3.0, 0.0, id="just-checkpointed"),
    ],
)
def test_rule_wasted_work_since_checkpoint(start: float, ckpt: float | None, wasted: float) -> None:
    assert wasted_h(run("v", "q", 1, start=start, ckpt=ckpt), 10.0) == pytest.approx(wasted)


def test_select_victims_takes_the_least_waste_until_it_fits_and_undoes_the_trial() -> None:
    b = book()
    running = [
        run("old", "qb", 2, start=0.0),
        run("new", "qb", 2, start=9.0),
        run("mine", "qb", 4, start=0.0),
    ]
    for r in running:
        b.admit(r.queue, r.flavor, r.milli)
    before = {q: dict(u) for q, u in b.usage.items()}
    outcome, victims = select_victims(Request("qa", "A100", 2000, 0), running, b, now=10.0)
    assert (outcome, [v.job_id for v in victims]) == (Outcome.PREEMPT, ["new"])
    assert b.usage == before
    assert select_victims(Request("qa", "A100", 1000, 0), [], book(), 0.0) == (Outcome.FIT, [])
    assert select_victims(Request("qa", "A100", 9000, 0), running, b, 10.0) == (Outcome.NO_FIT, [])


@pytest.mark.parametrize(
    ("reclaims", "hold_h"),
    [
        pytest.param(0, 0.0, id="never-reclaimed-no-hold"),
        pytest.param(1, 60 / 3600, id="first-reclaim-60-s"),
        pytest.param(2, 120 / 3600, id="doubles"),
        pytest.param(6, 1920 / 3600, id="sixth-32-min"),
        pytest.param(7, 1.0, id="seventh-capped-at-1-h"),
        pytest.param(50, 1.0, id="stays-capped"),
    ],
)
def test_rule_reclaim_backoff(reclaims: int, hold_h: float) -> None:
    assert rule_reclaim_backoff(reclaims) == pytest.approx(hold_h)
    assert (RECLAIM_BACKOFF_BASE_H, RECLAIM_BACKOFF_MAX_H) == (60 / 3600, 1.0)

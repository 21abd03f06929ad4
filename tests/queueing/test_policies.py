"""The queueing policies on tiny multi-tenant scenarios: exact traces and properties."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import job, scenario, site, tenants
from suanli.core.capacity import NetworkCapacity, job_milli
from suanli.core.clock import ManualClock
from suanli.core.policies import POLICIES, make_policy
from suanli.core.policies.queueing.backfill import (
    reserve,
    rule_backfill_never_delays_the_reservation,
)
from suanli.core.policies.queueing.base import QueueingPolicy
from suanli.core.queueing import parse_queueing
from suanli.core.scheduler import Scheduler
from suanli.model import Job, Pool, Scenario
from suanli.model.network import CrossSiteGangs
from suanli.sim.engine import run
from suanli.sim.queue_metrics import queue_metrics

Event = tuple[float, str, str, str]


def go(s: Scenario, policy: str, jobs: Sequence[Job]) -> tuple[list[Event], Scheduler]:
    clock = ManualClock()
    sched = Scheduler(s, make_policy(policy), clock)
    t = run(sched, clock, jobs, record_events=True)
    return [(round(a, 6), b, c, d) for a, b, c, d in t.events], sched


ONE = tenants(scenario(site("a")), {"ta": 4, "tb": 4})


def test_kueue_lets_a_queue_borrow_then_reclaims_for_the_lender() -> None:
    jobs = [
        job("b1", arrival=0.0, gpus=8, duration=4.0).copy(tenant="tb"),
        job("a1", arrival=1.0, gpus=4, duration=1.0).copy(tenant="ta"),
    ]
    events, sched = go(ONE, "kueue", jobs)
    assert events == [
        (0.0, "start", "b1", "a"),
        (1.0, "preempt", "b1", "a"),
        (1.0, "start", "a1", "a"),
        (2.0, "finish", "a1", "a"),
        (2.0, "start", "b1", "a"),
        (6.0, "finish", "b1", "a"),
    ]
    (p,) = sched.preemptions
    assert (p.reason, p.wasted_gpu_h) == ("kueue: room for a1 in ta", 8.0)


# 16 A100 on two nodes, nominal quotas 8 + 8
TWO_NODES = tenants(scenario(site("a", pools=(Pool("A100", 2, 8),))), {"ta": 8, "tb": 8})


def test_kueue_admits_by_quota_and_the_queue_moves_on_while_the_pods_wait_for_nodes() -> None:
    # b0 and b1 leave 2 GPUs free on each node; b2 (3 GPUs on one node) fits tb's quota with
    # what it may borrow but no node: Kueue admits it by quota and its pods pend, so the
    # ClusterQueue's next head b3 (1 GPU) starts at once; b2 starts when a node frees
    jobs = [
        job("b0", arrival=0.0, gpus=6, duration=10.0),
        job("b1", arrival=0.01, gpus=6, duration=10.0),
        job("b2", arrival=1.0, gpus=3, duration=1.0),
        job("b3", arrival=1.5, gpus=1, duration=1.0),
    ]
    events, sched = go(TWO_NODES, "kueue", [j.copy(tenant="tb", types=("A100",)) for j in jobs])
    assert events == [
        (0.0, "start", "b0", "a"),
        (0.01, "start", "b1", "a"),
        (1.5, "start", "b3", "a"),
        (2.5, "finish", "b3", "a"),
        (10.0, "finish", "b0", "a"),
        (10.0, "start", "b2", "a"),
        (10.01, "finish", "b1", "a"),
        (11.0, "finish", "b2", "a"),
    ]
    assert getattr(sched, "preemptions", []) == []


def test_kueue_a_lender_takes_back_quota_held_by_a_borrower_whose_pods_wait() -> None:
    # b1 (tb) is admitted by quota, borrowing 2 of ta's 8, and waits for a node; a1 (ta,
    # within its nominal quota) needs that quota: the least-waste victim is the admitted
    # workload whose pods have not started (nothing lost), not the running b0
    jobs = [
        job("a0", arrival=0.0, gpus=6, duration=10.0).copy(tenant="ta"),
        job("b0", arrival=0.01, gpus=6, duration=10.0).copy(tenant="tb"),
        job("b1", arrival=1.0, gpus=4, duration=1.0).copy(tenant="tb"),
        job("a1", arrival=2.0, gpus=2, duration=1.0).copy(tenant="ta"),
    ]
    events, sched = go(TWO_NODES, "kueue", [j.copy(types=("A100",)) for j in jobs])
    assert events == [
        (0.0, "start", "a0", "a"),
        (0.01, "start", "b0", "a"),
        (2.0, "start", "a1", "a"),
        (3.0, "finish", "a1", "a"),
        (10.0, "finish", "a0", "a"),
        (10.0, "start", "b1", "a"),
        (10.01, "finish", "b0", "a"),
        (11.0, "finish", "b1", "a"),
    ]
    assert getattr(sched, "preemptions", []) == []


# 16 A100 on two nodes, nominal quotas 8 + 4 + 4
THREE = tenants(scenario(site("a", pools=(Pool("A100", 2, 8),))), {"ta": 8, "tb": 4, "tc": 4})


def test_kueue_admits_heads_within_their_nominal_quota_before_heads_that_borrow() -> None:
    # at 2.0 a0 and c0 end and two heads wait: c1 (tc, older) would borrow 2 of the cohort's
    # quota, a1 (ta) is within its nominal 8. Kueue orders a cycle's heads that do not borrow
    # before those that do (then priority, then age), so a1 starts and c1, which no longer
    # fits the quota, waits for it; taken by age, c1 started and a1 reclaimed it in the
    # instant it started
    jobs = [
        job("a0", arrival=0.0, gpus=8, duration=2.0).copy(tenant="ta"),
        job("b0", arrival=0.0, gpus=4, duration=10.0).copy(tenant="tb"),
        job("c0", arrival=0.0, gpus=4, duration=2.0).copy(tenant="tc"),
        job("c1", arrival=0.5, gpus=6, duration=1.0).copy(tenant="tc"),
        job("a1", arrival=1.0, gpus=8, duration=1.0).copy(tenant="ta"),
    ]
    events, sched = go(THREE, "kueue", [j.copy(types=("A100",)) for j in jobs])
    assert [e for e in events if e[0] >= 2.0] == [
        (2.0, "finish", "a0", "a"),
        (2.0, "finish", "c0", "a"),
        (2.0, "start", "a1", "a"),
        (3.0, "finish", "a1", "a"),
        (3.0, "start", "c1", "a"),
        (4.0, "finish", "c1", "a"),
        (10.0, "finish", "b0", "a"),
    ]
    assert getattr(sched, "preemptions", []) == []


# 48 A100 on six nodes, nominal quotas 16 + 16: a third of the pool is nobody's quota
ROOMY = tenants(scenario(site("a", pools=(Pool("A100", 6, 8),))), {"ta": 16, "tb": 16})


@pytest.mark.parametrize("policy", ["kueue", "suanli-queue"])
@pytest.mark.parametrize("gpus", [8, 16], ids=["one-node", "gang"])
def test_a_lender_reclaims_its_quota_even_when_the_pool_has_room(policy: str, gpus: int) -> None:
    # tb borrows all of ta's quota (32 of the cohort's 32); 16 GPUs stay free but no quota is
    # left, so ta's job, within its nominal 16, must reclaim a borrower's job to start now
    jobs = [
        job("b1", arrival=0.0, gpus=16, duration=4.0).copy(tenant="tb"),
        job("b2", arrival=0.5, gpus=16, duration=4.0).copy(tenant="tb"),
        job("a1", arrival=1.0, gpus=gpus, duration=1.0).copy(tenant="ta"),
    ]
    events, sched = go(ROOMY, policy, jobs)
    assert events[:4] == [
        (0.0, "start", "b1", "a"),
        (0.5, "start", "b2", "a"),
        (1.0, "preempt", "b2", "a"),  # the borrower's job that loses least work
        (1.0, "start", "a1", "a"),
    ]
    (p,) = sched.preemptions
    assert p.wasted_gpu_h == 8.0


# 32 A100 on four nodes, all of them in the two queues' nominal quotas
FOUR_NODES = tenants(scenario(site("a", pools=(Pool("A100", 4, 8),))), {"ta": 16, "tb": 16})


def test_suanli_queue_reclaims_for_a_gang_the_victims_whose_nodes_hold_it() -> None:
    # tb fills the pool (borrowing ta's 16): two 4-GPU jobs per node; one on each node ends
    # at about 1 h and n0..n3 take its place, so the four jobs that lost least are on four
    # nodes. a1 (ta, two whole nodes, within its nominal) reclaims: counting free GPUs in the
    # pool, those four were stopped and a1 still did not fit; now the victims are the jobs
    # of two whole nodes, the pair that loses least
    jobs = [
        job(f"b{i}", arrival=0.01 * i, gpus=4, duration=1.0 if i % 2 == 0 else 10.0)
        for i in range(8)
    ]
    jobs += [job(f"n{i}", arrival=0.5, gpus=4, duration=10.0) for i in range(4)]
    jobs = [j.copy(tenant="tb", types=("A100",)) for j in jobs]
    jobs.append(job("a1", arrival=1.5, gpus=16, duration=1.0, types=("A100",)).copy(tenant="ta"))
    events, sched = go(FOUR_NODES, "suanli-queue", jobs)
    at = [(kind, jid) for t, kind, jid, _ in events if t == 1.5]
    assert at == [
        ("preempt", "n3"),
        ("preempt", "n2"),
        ("preempt", "b7"),
        ("preempt", "b5"),
        ("start", "a1"),
    ]
    assert sum(p.wasted_gpu_h for p in sched.preemptions) == pytest.approx(15.12)


# the data is at "a" (T4: 8 h for this job); it reaches "b" (H800: 1 h) after 0.5 h
SLOW_NEAR_FAST_FAR = scenario(
    site("a", pools=(Pool("T4", 1, 8),)), site("b", pools=(Pool("H800", 1, 8),))
)


def test_suanli_queue_waits_for_the_data_where_the_run_saves_the_wait() -> None:
    jobs = [job("j", duration=2.0, size_gb=1800.0)]
    finish: dict[str, float] = {}
    for policy in ("kueue", "suanli-queue"):
        events, _ = go(SLOW_NEAR_FAST_FAR, policy, jobs)
        starts = [(t, where) for t, kind, _, where in events if kind == "start"]
        finish[policy] = max(t for t, kind, *_ in events if kind == "finish")
        assert starts == ([(0.0, "a")] if policy == "kueue" else [(0.5, "b")])
    assert finish == {"kueue": 8.0, "suanli-queue": 1.5}


def test_suanli_queue_does_not_wait_for_a_saving_under_four_times_the_wait() -> None:
    # four times the data: it reaches "b" after 2 h; 2 h + 1 h there would still finish
    # before 8 h at "a", but saves 5 h, less than 4 x 2 h
    events, _ = go(SLOW_NEAR_FAST_FAR, "suanli-queue", [job("j", duration=2.0, size_gb=7200.0)])
    starts = [(t, where) for t, kind, _, where in events if kind == "start"]
    assert starts == [(0.0, "a")]


def test_the_jct_floor_is_the_best_option_with_unlimited_capacity() -> None:
    clock = ManualClock()
    sched = Scheduler(SLOW_NEAR_FAST_FAR, make_policy("kueue"), clock)
    trace = run(sched, clock, [job("j", duration=2.0, size_gb=1800.0)])
    m = queue_metrics(trace.placements, {"t1": 1.0})
    assert (m.mean_jct_h, m.jct_floor_h) == (8.0, 1.5)


def per_hub(quotas: dict[str, int]) -> Scenario:
    """Sites "a" (hub "h1") and "b" (hub "h2"), 8 A100 each; tenant t1's quotas per hub."""
    s = scenario(dataclasses.replace(site("a"), hub="h1"), dataclasses.replace(site("b"), hub="h2"))
    pools = [(x.id, x.hub, p.accelerator) for x in s.sites.values() for p in x.pools]
    raw = {"flavorScope": "hub", "queues": [{"name": "q", "tenants": ["t1"], "quotas": quotas}]}
    return dataclasses.replace(s, queueing=parse_queueing(raw, ["A100"], ["t1"], "q", pools))


@pytest.mark.parametrize("policy", ["kueue", "suanli-queue"])
def test_a_quota_per_hub_sends_the_job_to_the_hub_that_has_it(policy: str) -> None:
    jobs = [job(f"j{i}", arrival=0.1 * i, gpus=4, duration=1.0) for i in range(3)]
    events, _ = go(per_hub({"A100@h1": 0, "A100@h2": 8}), policy, jobs)
    starts = [(t, jid, where) for t, kind, jid, where in events if kind == "start"]
    # "a" is free and first by name, but t1 has quota only in h2: two fit there, one waits
    assert starts == [(0.0, "j0", "b"), (0.1, "j1", "b"), (1.0, "j2", "b")]


@pytest.mark.parametrize(
    ("estimates", "first"),
    [
        pytest.param((None, None), "short", id="known-lengths-the-shorter-first"),
        pytest.param((0.5, 3.0), "long", id="estimates-the-one-expected-shorter-first"),
    ],
)
def test_suanli_queue_orders_by_the_submitters_estimate_when_there_is_one(
    estimates: tuple[float | None, float | None], first: str
) -> None:
    jobs = [
        job("blocker", gpus=8, duration=1.0),
        job("long", arrival=0.1, gpus=8, duration=4.0).copy(estimate_h=estimates[0]),
        job("short", arrival=0.2, gpus=8, duration=1.0).copy(estimate_h=estimates[1]),
    ]
    events, _ = go(ONE, "suanli-queue", [j.copy(tenant="ta") for j in jobs])
    starts = [jid for _, kind, jid, _ in events if kind == "start"]
    assert starts == ["blocker", first, "short" if first == "long" else "long"]


@pytest.mark.parametrize("policy", ["kueue", "suanli-queue"])
@pytest.mark.parametrize(
    ("preempts", "a1_starts"),
    [
        pytest.param(True, 1.0, id="preempt-lower-priority-reclaims-at-once"),
        pytest.param(False, 4.0, id="never-waits-for-the-borrower-to-finish"),
    ],
)
def test_a_job_whose_class_never_preempts_waits_instead_of_reclaiming(
    policy: str, preempts: bool, a1_starts: float
) -> None:
    jobs = [
        job("b1", arrival=0.0, gpus=8, duration=4.0).copy(tenant="tb"),
        job("a1", arrival=1.0, gpus=4, duration=1.0).copy(tenant="ta", preempts=preempts),
    ]
    events, sched = go(ONE, policy, jobs)
    assert [t for t, kind, jid, _ in events if kind == "start" and jid == "a1"] == [a1_starts]
    assert bool(getattr(sched, "preemptions", [])) is preempts


# tb runs b1 within its nominal 4 and borrows ta's 4 for b2; ta's short jobs a1 and a2 come
# one after the other, each within ta's nominal, each needing the 4 GPUs b2 holds
THRASH = [
    job("b1", arrival=0.0, gpus=4, duration=10.0).copy(tenant="tb"),
    job("b2", arrival=0.5, gpus=4, duration=10.0).copy(tenant="tb"),
    job("a1", arrival=1.0, gpus=4, duration=0.01).copy(tenant="ta"),
]


def test_suanli_queue_a_reclaimed_job_does_not_borrow_back_at_once_to_be_reclaimed_again() -> None:
    # without the backoff b2 restarts as a borrower as soon as a1 ends (1.01) and, having
    # just started, is the least-waste victim of a2 (1.015): stopped twice, moved twice
    jobs = [*THRASH, job("a2", arrival=1.015, gpus=4, duration=0.01).copy(tenant="ta")]
    events, sched = go(ONE, "suanli-queue", jobs)
    assert events == [
        (0.0, "start", "b1", "a"),
        (0.5, "start", "b2", "a"),
        (1.0, "preempt", "b2", "a"),
        (1.0, "start", "a1", "a"),
        (1.01, "finish", "a1", "a"),
        (1.015, "start", "a2", "a"),  # b2 held off borrowing until 1 h + 60 s
        (1.025, "finish", "a2", "a"),
        (1.025, "start", "b2", "a"),
        (10.0, "finish", "b1", "a"),
        (11.025, "finish", "b2", "a"),
    ]
    assert len(sched.preemptions) == 1


@pytest.mark.parametrize(
    ("b1_duration", "b2_restarts"),
    [
        pytest.param(10.0, 1.0 + 60 / 3600, id="borrows-again-when-the-backoff-ends"),
        pytest.param(1.005, 1.005, id="within-nominal-restarts-at-once"),
    ],
)
def test_suanli_queue_a_reclaimed_job_backs_off_borrowing_only(
    b1_duration: float, b2_restarts: float
) -> None:
    jobs = [THRASH[0].copy(duration_h=b1_duration), *THRASH[1:]]
    events, _ = go(ONE, "suanli-queue", jobs)
    starts = [t for t, kind, jid, _ in events if kind == "start" and jid == "b2"]
    assert starts == [0.5, round(b2_restarts, 6)]


def test_suanli_queue_an_overdue_job_is_not_held_off_borrowing() -> None:
    # with aging after 0.25 h, b2 (arrived 0.5) is overdue from 1.0: its reclaim hold (to
    # 1 h + 60 s) does not apply, so it borrows again as soon as a1 ends (the waiting bound)
    from suanli.core.policies.queueing.suanli import SuanliQueuePolicy

    class Quick(SuanliQueuePolicy):
        aging_h = 0.25

    clock = ManualClock()
    sched = Scheduler(ONE, Quick(), clock)
    trace = run(sched, clock, THRASH, record_events=True)
    starts = [round(t, 6) for t, kind, jid, _ in trace.events if kind == "start" and jid == "b2"]
    assert starts == [0.5, 1.01]


def test_suanli_queue_does_not_reclaim_a_job_that_started_overdue() -> None:
    # overdue after 2 h: a1 (ta, over its nominal 8 while a0 runs) waits until b0 and c0
    # end at 3 h and starts then, overdue, as a borrower; b1, within tb's nominal, reclaims
    # room, and its victim is a0, not a1, though a1 would lose no work (before the rule, a1
    # was stopped the instant it started and the waiting bound's start was undone)
    from suanli.core.policies.queueing.suanli import SuanliQueuePolicy

    class Quick(SuanliQueuePolicy):
        aging_h = 1.0

    jobs = [
        job("a0", arrival=0.0, gpus=8, duration=6.0).copy(tenant="ta"),
        job("b0", arrival=0.0, gpus=4, duration=3.0).copy(tenant="tb"),
        job("c0", arrival=0.0, gpus=4, duration=3.0).copy(tenant="tc"),
        job("a1", arrival=0.1, gpus=8, duration=2.0).copy(tenant="ta"),
        job("b1", arrival=2.5, gpus=4, duration=1.0).copy(tenant="tb"),
    ]
    clock = ManualClock()
    sched = Scheduler(TWO_NODES, Quick(), clock)
    trace = run(sched, clock, [j.copy(types=("A100",)) for j in jobs], record_events=True)
    events = [(round(t, 6), kind, jid) for t, kind, jid, _ in trace.events]
    assert events[3:8] == [
        (3.0, "finish", "b0"),
        (3.0, "finish", "c0"),
        (3.0, "preempt", "a0"),
        (3.0, "start", "a1"),
        (3.0, "start", "b1"),
    ]
    (p,) = sched.preemptions
    assert (p.placement.job.id, p.reason, p.wasted_gpu_h) == ("a0", "reclaimed by tb for b1", 24.0)


def test_fifo_head_blocks_the_queue_behind_it() -> None:
    jobs = [
        job("j1", arrival=0.0, gpus=6, duration=2.0),
        job("j2", arrival=0.5, gpus=4, duration=1.0),
        job("j3", arrival=0.6, gpus=1, duration=1.0),
    ]
    events, _ = go(ONE, "fifo", [j.copy(tenant="ta") for j in jobs])
    assert events == [
        (0.0, "start", "j1", "a"),
        (2.0, "finish", "j1", "a"),
        (2.0, "start", "j2", "a"),
        (2.0, "start", "j3", "a"),
        (3.0, "finish", "j2", "a"),
        (3.0, "finish", "j3", "a"),
    ]


def test_slurm_backfills_a_short_job_but_not_one_that_delays_the_reservation() -> None:
    jobs = [
        job("j1", arrival=0.0, gpus=6, duration=2.0),
        job("big", arrival=0.1, gpus=8, duration=1.0),
        job("short", arrival=0.2, gpus=2, duration=1.0),
        job("long", arrival=0.3, gpus=2, duration=5.0),
    ]
    events, _ = go(ONE, "slurm", [j.copy(tenant="ta") for j in jobs])
    assert events == [
        (0.0, "start", "j1", "a"),
        (0.2, "start", "short", "a"),
        (1.2, "finish", "short", "a"),
        (2.0, "finish", "j1", "a"),
        (2.0, "start", "big", "a"),
        (3.0, "finish", "big", "a"),
        (3.0, "start", "long", "a"),
        (8.0, "finish", "long", "a"),
    ]


JOBS = st.lists(
    st.tuples(
        st.sampled_from(["ta", "tb", "tc"]),
        st.sampled_from([0.5, 1.0, 2.0, 4.0, 8.0, 16.0]),
        st.floats(0.1, 4.0),
        st.floats(0.0, 6.0),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=14,
)
TWO_NODES = tenants(scenario(site("a", pools=(Pool("A100", 2, 8),))), {"ta": 8, "tb": 4, "tc": 4})


def make_jobs(spec: list[tuple[str, float, float, float, int]]) -> list[Job]:
    return [
        job(f"j{i}", arrival=a, gpus=g, duration=d, types=("A100",)).copy(tenant=t, priority=p)
        for i, (t, g, d, a, p) in enumerate(spec)
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=JOBS, policy=st.sampled_from(["fifo", "slurm", "kueue", "suanli-queue"]))
def test_every_job_runs_to_completion_once_whole_and_quotas_hold(
    spec: list[tuple[str, float, float, float, int]], policy: str
) -> None:
    jobs = make_jobs(spec)
    clock = ManualClock()
    sched = Scheduler(TWO_NODES, make_policy(policy), clock)
    trace = run(sched, clock, jobs, record_events=True)
    finished = Counter(e[2] for e in trace.events if e[1] == "finish")
    rejected = {r.job.id for r in trace.rejections}
    # a preempted job is requeued, never lost; none finishes twice
    assert all(finished[j.id] == 1 for j in jobs if j.id not in rejected)
    assert sched.running == {} and sched.policy.waiting() == 0
    # a gang job never runs partially: each start holds all its accelerators
    assert all(p.grant.milli == job_milli(p.job) for p in trace.placements)
    pol = sched.policy
    assert isinstance(pol, QueueingPolicy)
    if pol.enforce_quota:
        # usage never exceeds quota plus what the cohort lends
        assert pol.quota_violations == 0
    assert pol.book.violations() == []
    stopped = getattr(sched, "preemptions", ())
    m = queue_metrics(trace.placements, {t: 1.0 for t in "abc"}, stopped)
    # a run stopped in the instant it started is not counted (the service never dispatches it)
    assert m.preemptions == sum(1 for r in stopped if r.time_h > r.placement.start_h)


#: hub "h" of two sites that may run one gang together: "a" (16 A100) and "b" (8 A100)
TWO_SITE_HUB = dataclasses.replace(
    tenants(
        scenario(
            dataclasses.replace(site("a", pools=(Pool("A100", 2, 8),)), hub="h"),
            dataclasses.replace(site("b", pools=(Pool("A100", 1, 8),), price=0.8), hub="h"),
        ),
        {"ta": 12, "tb": 6, "tc": 6},
    ),
    cross_site={"h": CrossSiteGangs("h", ("a", "b"), 400.0, 1.3, "EST test")},
)
SPANNING_JOBS = st.lists(
    st.tuples(
        st.sampled_from(["ta", "tb", "tc"]),
        st.sampled_from([0.5, 2.0, 8.0, 12.0, 17.0, 20.0, 24.0]),
        st.floats(0.1, 4.0),
        st.floats(0.0, 6.0),
        st.integers(0, 2),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=SPANNING_JOBS, policy=st.sampled_from(sorted(POLICIES)))
def test_a_gang_never_runs_partially_across_sites(
    spec: list[tuple[str, float, float, float, int, bool]], policy: str
) -> None:
    jobs = [
        job(f"j{i}", arrival=a, gpus=g, duration=d, types=("A100",)).copy(
            tenant=t, priority=p, span="hub" if spans else "pool"
        )
        for i, (t, g, d, a, p, spans) in enumerate(spec)
    ]
    clock = ManualClock()
    sched = Scheduler(TWO_SITE_HUB, make_policy(policy), clock, cross_site=True)
    trace = run(sched, clock, jobs, record_events=True)
    finished = Counter(e[2] for e in trace.events if e[1] == "finish")
    rejected = {r.job.id for r in trace.rejections}
    assert all(finished[j.id] == 1 for j in jobs if j.id not in rejected)
    assert sched.running == {} and sched.policy.waiting() == 0
    # every pool is whole again: no part of any gang was left behind
    assert sched.capacity.free_milli == sched.capacity.total_milli
    for p in trace.placements:
        assert p.grant.milli == job_milli(p.job)
        if p.option.parts:
            # a split gang holds every part at once, each on its own pool and site
            assert p.job.span == "hub" and p.job.accelerators > 16
            assert [(g.site_idx, g.pool, g.milli) for g in p.grant.parts] == [
                (q.site_idx, q.pool, round(q.accelerators * 1000)) for q in p.option.parts
            ]
            assert len({q.site for q in p.option.parts}) == 2
        else:
            assert p.grant.parts == () and p.job.accelerators <= 16
    # a job no single pool holds runs split if it may span, and is rejected if not
    for j in jobs:
        if j.accelerators > 16:
            assert (j.id in rejected) is (j.span == "pool")
    pol = sched.policy
    if isinstance(pol, QueueingPolicy):
        if pol.enforce_quota:
            assert pol.quota_violations == 0
        assert pol.book.violations() == []


#: the longest run of the generated jobs (h): the waiting bound's property scales
#: suanli-queue's constants to it, as they are scaled to the 72 h of the real workloads
SHORT_RUN_H = 4.0
BACKLOGS = st.lists(
    st.tuples(
        st.sampled_from(["ta", "tb", "tc"]),
        st.sampled_from([0.5, 1.0, 2.0, 4.0, 8.0, 16.0]),
        st.floats(0.1, SHORT_RUN_H),
        st.floats(0.0, 6.0),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=BACKLOGS)
def test_suanli_queue_a_job_starts_within_its_overdue_time_plus_one_run_per_older_job(
    spec: list[tuple[str, float, float, float, int]],
) -> None:
    """The waiting bound of docs/queueing.md, with aging after one longest run L and overdue
    after 2 L: a job starts within 2 L + (1 + k) L of its arrival, k the jobs that arrived no
    later and had not finished when it became overdue (0 for the oldest: 3 L, 216 h on the
    real workloads). Up to 30 jobs of up to 240 accelerator-hours on 16 GPUs build backlogs
    of tens of hours, past the overdue time."""
    from suanli.core.policies.queueing.suanli import SuanliQueuePolicy

    class ShortRuns(SuanliQueuePolicy):
        aging_h = SHORT_RUN_H

    jobs = make_jobs(spec)
    clock = ManualClock()
    sched = Scheduler(TWO_NODES, ShortRuns(), clock)
    trace = run(sched, clock, jobs, record_events=True)
    # a run stopped in the instant it started is no start (the service never dispatches it)
    undone = {
        (r.placement.job.id, r.placement.start_h)
        for r in getattr(sched, "preemptions", ())
        if r.time_h <= r.placement.start_h
    }
    first: dict[str, float] = {}
    for p in trace.placements:
        if (p.job.id, p.start_h) not in undone:
            first[p.job.id] = min(first.get(p.job.id, p.start_h), p.start_h)
    last = {jid: t for t, kind, jid, _ in trace.events if kind == "finish"}
    overdue = 2 * SHORT_RUN_H
    for j in jobs:
        due = j.arrival_h + overdue
        older = sum(
            1 for o in jobs if o.id != j.id and o.arrival_h <= j.arrival_h and last[o.id] > due
        )
        assert first[j.id] - j.arrival_h <= overdue + (1 + older) * SHORT_RUN_H + 1e-6, j.id


@settings(max_examples=60, deadline=None)
@given(
    running=st.lists(
        st.tuples(st.sampled_from([1.0, 2.0, 4.0, 8.0]), st.floats(0.1, 5.0)), max_size=4
    ),
    head=st.sampled_from([4.0, 8.0, 16.0]),
    cand=st.tuples(st.sampled_from([1.0, 2.0, 4.0]), st.floats(0.1, 6.0)),
)
def test_backfill_never_delays_the_reserved_start_of_the_blocked_head(
    running: list[tuple[float, float]], head: float, cand: tuple[float, float]
) -> None:
    s = TWO_NODES
    clock = ManualClock()
    sched = Scheduler(s, make_policy("fifo"), clock)
    cap: NetworkCapacity = sched.capacity
    placed = []
    for i, (g, d) in enumerate(running):
        j = job(f"r{i}", gpus=g, duration=d, types=("A100",))
        grant = cap.allocate(0, 0, j)
        if grant is not None:
            placed.append(_placement(sched, j, grant, d))
    head_job = job("head", gpus=head, duration=1.0, types=("A100",))
    option = _option(sched, head_job)
    before = reserve(head_job, [option], placed, cap, 0.0)
    cj = job("cand", gpus=cand[0], duration=cand[1], types=("A100",))
    copt = _option(sched, cj)
    if before is None or not cap.fits(0, 0, cj):
        return
    if rule_backfill_never_delays_the_reservation(before, copt, 0.0):
        grant = cap.allocate(0, 0, cj)
        assert grant is not None
        after = reserve(
            head_job, [option], [*placed, _placement(sched, cj, grant, copt.runtime_h)], cap, 0.0
        )
        assert after is not None and after.start_h <= before.start_h + 1e-9


def _option(sched: Scheduler, j: Job):  # type: ignore[no-untyped-def]
    return sched._check(j).options[0]


def _placement(sched: Scheduler, j: Job, grant, d: float):  # type: ignore[no-untyped-def]
    from suanli.core.scheduler import Explanation, Placement

    o = _option(sched, j)
    return Placement(
        j,
        o,
        0.0,
        d,
        sched.cost.breakdown(j, o.site, o.accelerator, 0.0),
        Explanation("t", "", {}, (o,), 0.0),
        grant,
    )

"""Invariants of every policy on random small scenarios (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import job, scenario, site
from suanli.core.bound import lower_bound
from suanli.core.clock import ManualClock
from suanli.core.cost import CostModel
from suanli.core.options import feasibility
from suanli.core.policies import POLICIES, make_policy
from suanli.core.scheduler import Scheduler
from suanli.core.timeline import hourly_usage
from suanli.model import Classification, Job, JobKind, Pool, Scenario
from suanli.sim.engine import run

HOURS = 96


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Scenario, list[Job]]:
    n_sites = draw(st.integers(1, 3))
    sites = []
    for i in range(n_sites):
        prices = draw(st.lists(st.floats(0.1, 2.0), min_size=24, max_size=24))
        carbon = draw(st.lists(st.floats(0.0, 1.0), min_size=24, max_size=24))
        pools = tuple(
            Pool(t, draw(st.integers(1, 2)), draw(st.sampled_from([1, 4, 8])))
            for t in draw(st.sets(st.sampled_from(["A100", "H800", "T4"]), min_size=0, max_size=2))
        )
        sites.append(
            site(
                f"s{i}",
                price=prices,
                carbon=carbon,
                pools=pools,
                jurisdiction=draw(st.sampled_from(["CN", "SG"])),
                hours=HOURS,
            )
        )
    scn = scenario(*sites, hours=HOURS, latency_ms=draw(st.sampled_from([5.0, 30.0])))
    jobs = []
    for k in range(draw(st.integers(1, 25))):
        arrival = draw(st.floats(0, 24))
        duration = draw(st.floats(0.1, 6))
        kind = draw(st.sampled_from(list(JobKind)))
        slack = draw(st.one_of(st.none(), st.floats(1.0, 4.0)))
        deadline = None if slack is None else arrival + duration * slack
        jobs.append(
            job(
                f"j{k:02d}",
                arrival=arrival,
                duration=duration,
                gpus=draw(st.sampled_from([0.25, 0.5, 1, 2, 4, 8, 16])),
                types=tuple(draw(st.sets(st.sampled_from(["A100", "H800", "T4"]), min_size=1))),
                kind=kind,
                home=draw(st.sampled_from([s.id for s in sites])),
                size_gb=draw(st.sampled_from([0.0, 10.0, 5000.0])),
                classification=draw(st.sampled_from(list(Classification))),
                deadline=deadline,
                users=sites[0].id if kind == JobKind.ONLINE_INFERENCE else None,
                slo_ms=draw(st.sampled_from([None, 10.0]))
                if kind == JobKind.ONLINE_INFERENCE
                else None,
            )
        )
    return scn, jobs


def _run(scn: Scenario, jobs: list[Job], policy: str):  # type: ignore[no-untyped-def]
    clock = ManualClock()
    cost = CostModel(scn, horizon_h=24 * 30)
    sched = Scheduler(scn, make_policy(policy), clock, cost)
    return run(sched, clock, jobs), cost


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), policy=st.sampled_from(sorted(POLICIES)))
def test_no_pool_ever_runs_more_than_its_accelerators(world, policy) -> None:  # type: ignore[no-untyped-def]
    scn, jobs = world
    trace, _ = _run(scn, jobs, policy)
    # sweep over start/finish instants: concurrent demand per pool never exceeds its size
    events: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for p in trace.placements:
        key = (p.option.site, p.option.pool)
        events.setdefault(key, []).append((p.start_h, p.job.accelerators))
        events.setdefault(key, []).append((p.end_h, -p.job.accelerators))
    for (sid, k), ev in events.items():
        ev.sort(key=lambda e: (e[0], e[1]))  # releases before starts at the same instant
        level = 0.0
        for _, delta in ev:
            level += delta
            assert level <= scn.sites[sid].pools[k].accelerators + 1e-9


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), policy=st.sampled_from(sorted(POLICIES)))
def test_every_job_ends_completed_or_rejected_with_a_reason(world, policy) -> None:  # type: ignore[no-untyped-def]
    scn, jobs = world
    trace, _ = _run(scn, jobs, policy)
    placed = [p.job.id for p in trace.placements]
    rejected = [r.job.id for r in trace.rejections]
    assert sorted(placed + rejected) == sorted(j.id for j in jobs)
    for r in trace.rejections:
        assert set(r.reasons) == set(scn.site_ids)
        assert all(r.reasons.values())
    for p in trace.placements:
        assert p.start_h >= p.job.arrival_h - 1e-9
        assert p.start_h >= p.option.ready_h - 1e-9
        assert p.option.accelerator in p.job.types


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds())
def test_the_lower_bound_never_exceeds_any_policys_objective(world) -> None:  # type: ignore[no-untyped-def]
    scn, jobs = world
    objectives = {}
    cost = None
    for policy in sorted(POLICIES):
        trace, cost = _run(scn, jobs, policy)
        objectives[policy] = sum(p.cost.total_yuan for p in trace.placements) + sum(
            r.cost.total_yuan for r in trace.rejections
        )
    assert cost is not None
    options = [feasibility(j, cost).options for j in jobs]
    b = lower_bound(jobs, options, cost, target=min(objectives.values()), iterations=6)
    for policy, value in objectives.items():
        assert b.value <= value + 1e-6 * max(1.0, abs(value)), policy
    assert b.value >= b.uncapacitated - 1e-9


def test_hourly_usage_is_the_exact_overlap_with_each_hour() -> None:
    u = hourly_usage(
        np.array([0.5, 1.0]), np.array([2.25, 1.5]), np.array([2.0, 4.0]),
        np.array([0, 1]), rows=2, hours=3,
    )  # fmt: skip
    assert u.tolist() == [[1.0, 2.0, 0.5], [0.0, 2.0, 0.0]]

"""The incremental per-queue heaps give each cycle the same order as a full sort; the quota
replay of `suanli.sim.queue_metrics` counts each start beyond quota."""

from __future__ import annotations

import dataclasses
import heapq
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import job, scenario, site
from suanli.core.clock import ManualClock
from suanli.core.policies import POLICIES
from suanli.core.policies.queueing.base import EPS, QueueingPolicy
from suanli.core.queueing import ClusterQueue, Cohort, FlavorQuota, QueueingConfig
from suanli.core.scheduler import CycleContext, Scheduler
from suanli.model import Pool, Sector, Tenant
from suanli.sim.engine import run
from suanli.sim.queue_metrics import count_quota_violations

TENANTS = {
    t: Tenant(t, t.upper(), Sector.FINANCE, "CN", weight=w, quota={"A100": q})
    for t, w, q in (("ta", 2.0, 8), ("tb", 1.0, 4), ("tc", 1.0, 4))
}
SCENARIO = scenario(site("a", pools=(Pool("A100", 2, 8),)))
SCENARIO = dataclasses.replace(SCENARIO, tenants=TENANTS)


def spy(name: str) -> tuple[QueueingPolicy, list[int]]:
    """The policy ``name``, checking before every cycle that its heaps' order is the sorted
    order of all its ready jobs; the list counts the jobs compared per cycle."""
    base = POLICIES[name]
    compared: list[int] = []

    class Spy(base):  # type: ignore[valid-type, misc]
        def nominate(self, ctx: CycleContext) -> float | None:
            self._refresh(ctx.now)
            self.decayed.advance(ctx.now)
            self.begin_cycle(ctx)
            taken: list[Any] = []
            got = [w.pending.job.id for w in self.ordered(ctx, taken)]
            for entry in taken:
                w = self.jobs[entry[2]]
                heapq.heappush(self.heaps[(w.queue, w.aged)], entry)
            ready = [
                w
                for w in self.jobs.values()
                if min(o.ready_h for o in w.pending.options) <= ctx.now + EPS
            ]
            want = [w.pending.job.id for w in self.order(ready, ctx)]
            assert got == want
            compared.append(len(got))
            result: float | None = super().nominate(ctx)
            return result

    policy = Spy()
    assert isinstance(policy, QueueingPolicy)
    return policy, compared


JOBS = st.lists(
    st.tuples(
        st.sampled_from(["ta", "tb", "tc"]),
        st.sampled_from([1.0, 2.0, 4.0, 8.0, 16.0]),
        st.integers(1, 40).map(lambda k: k / 4),  # duration h
        st.integers(0, 120).map(lambda k: k / 4),  # arrival h (grid: no float near-ties)
        st.integers(0, 1),
    ),
    min_size=2,
    max_size=24,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=JOBS, name=st.sampled_from(["fifo", "slurm", "kueue", "suanli-queue"]))
def test_the_heaps_order_every_cycle_as_a_full_sort_of_the_backlog_would(
    spec: list[tuple[str, float, float, float, int]], name: str
) -> None:
    jobs = [
        job(f"j{i}", arrival=a, gpus=g, duration=d, types=("A100",)).copy(tenant=t, priority=p)
        for i, (t, g, d, a, p) in enumerate(spec)
    ]
    policy, compared = spy(name)
    for attr in ("max_age_h", "aging_h"):  # age within the run: jobs move heaps
        if hasattr(policy, attr):
            setattr(policy, attr, 6.0)
    clock = ManualClock()
    sched = Scheduler(SCENARIO, policy, clock)
    run(sched, clock, jobs)
    assert sched.policy.waiting() == 0
    assert compared  # the check ran


def _run(job_id: str, tenant: str, gpus: float, start: float, end: float) -> Any:
    """A run of ``gpus`` A100 from ``start`` to ``end``: what the replay reads of a placement."""
    j = job(job_id, arrival=0.0, gpus=gpus, duration=1.0, types=("A100",)).copy(tenant=tenant)
    option = SimpleNamespace(accelerator="A100", site="a", parts=())
    return SimpleNamespace(job=j, start_h=start, end_h=end, option=option)


CONFIG = QueueingConfig(
    {"qa": ClusterQueue("qa", ("ta",), {"A100": FlavorQuota(4.0, borrowing_limit=2.0)}, "c"),
     "qb": ClusterQueue("qb", ("tb",), {"A100": FlavorQuota(4.0)}, "c")},
    {"c": Cohort("c")},
)  # fmt: skip


@pytest.mark.parametrize(
    ("runs", "violations"),
    [
        pytest.param([("ta", 4, 0, 2), ("ta", 2, 1, 3)], 0, id="borrowing-within-the-limit"),
        pytest.param([("ta", 4, 0, 2), ("ta", 4, 1, 3)], 1, id="over-the-borrowing-limit"),
        pytest.param([("ta", 6, 0, 2), ("tb", 4, 1, 3)], 1, id="lender-cannot-have-its-quota"),
        pytest.param([("ta", 6, 0, 2), ("tb", 4, 2, 3)], 0, id="an-end-frees-room-that-instant"),
        pytest.param([("ta", 9, 1, 1)], 1, id="a-run-stopped-as-it-started-is-checked"),
        pytest.param(
            [("ta", 6, 1, 1), ("ta", 6, 1, 3)], 0, id="starts-of-one-instant-in-their-order"
        ),
    ],
)
def test_the_quota_replay_counts_each_start_beyond_quota_and_cohort(
    runs: list[tuple[str, float, float, float]], violations: int
) -> None:
    placements = [_run(f"j{i}", *r) for i, r in enumerate(runs)]
    assert count_quota_violations(placements, CONFIG) == violations

"""Kueue's indexed preemption search decides exactly as the walk over every running job of
the flavor that it replaced (issue 4, item 5: the walk made `kueue` too slow on pai-2020), and
a head that preempted holds its quota until its nodes free."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import job, scenario, site
from suanli.core.clock import ManualClock
from suanli.core.policies.queueing.baselines import KueuePolicy
from suanli.core.queueing.preemption import Outcome, Request, Running, select_victims
from suanli.core.scheduler import Scheduler
from suanli.model import Job, Pool, Sector, Tenant
from suanli.sim.engine import run

TENANTS = {
    t: Tenant(t, t.upper(), Sector.FINANCE, "CN", quota={"A100": qa, "T4": qt})
    for t, qa, qt in (("ta", 8, 2), ("tb", 4, 1), ("tc", 4, 1))
}
SCENARIO = dataclasses.replace(
    scenario(site("a", pools=(Pool("A100", 2, 8), Pool("T4", 1, 4)))), tenants=TENANTS
)


class WalkEveryRunningJob(KueuePolicy):
    """The search as it was: every running job of the flavor, in the order they started,
    then every admitted job whose pods wait and that holds the flavor, in admission order."""

    def candidates(self, req: Request) -> list[str]:
        running = [jid for jid, h in self.held.items() if h.flavor == req.flavor]
        waiting = [j for j, held in self.reserved.items() if any(f == req.flavor for f, _ in held)]
        return running + waiting

    def select(
        self, req: Request, running: list[Running], now: float
    ) -> tuple[Outcome, list[Running]]:
        return select_victims(req, running, self.book, now)  # filters by the rules itself


JOBS = st.lists(
    st.tuples(
        st.sampled_from(["ta", "tb", "tc"]),
        st.sampled_from([0.5, 1.0, 2.0, 4.0, 8.0]),
        st.integers(1, 24).map(lambda k: k / 4),  # duration h
        st.integers(0, 40).map(lambda k: k / 4),  # arrival h (a grid: many ties)
        st.integers(0, 2),
        st.sampled_from([("A100",), ("T4",), ("A100", "T4")]),
    ),
    min_size=2,
    max_size=30,
)


Spec = list[tuple[str, float, float, float, int, tuple[str, ...]]]


def trace(policy: KueuePolicy, spec: Spec) -> tuple[list[Any], list[tuple[float, str, str]]]:
    """The run's events and its preemptions (time, job, reason)."""
    jobs = [
        job(f"j{i}", arrival=a, gpus=g, duration=d, types=ty).copy(tenant=t, priority=p)
        for i, (t, g, d, a, p, ty) in enumerate(spec)
    ]
    clock = ManualClock()
    sched = Scheduler(SCENARIO, policy, clock)
    t = run(sched, clock, jobs, record_events=True)
    stopped = [(r.time_h, r.placement.job.id, r.reason) for r in getattr(sched, "preemptions", [])]
    return t.events, stopped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=JOBS)
def test_the_indexed_victim_search_makes_the_decisions_of_the_full_walk(spec: Spec) -> None:
    assert trace(KueuePolicy(), spec) == trace(WalkEveryRunningJob(), spec)


def test_the_equivalence_check_sees_preemptions() -> None:
    """A case where the search matters: tb borrows all of A100, ta reclaims (not vacuous)."""
    spec = [("tb", 8.0, 4.0, 0.0, 0, ("A100",)), ("tb", 8.0, 4.0, 0.0, 0, ("A100",)),
            ("ta", 4.0, 1.0, 1.0, 0, ("A100",))]  # fmt: skip
    events, stopped = trace(KueuePolicy(), spec)
    assert stopped and stopped[0][0] == 1.0
    assert (events, stopped) == trace(WalkEveryRunningJob(), spec)


def test_a_head_that_preempted_but_does_not_fit_the_nodes_holds_its_quota() -> None:
    """tb borrows all of ta's quota with u and v, one on each node; ta's 8-GPU a1 reclaims
    them by quota, but 4 free GPUs on each node do not hold it. a1 keeps the quota (Kueue has
    admitted it; its pods wait), so u and v cannot take it back and be preempted again: two
    preemptions in all (the version without the hold preempted them six times)."""
    ts = {t: Tenant(t, t.upper(), Sector.FINANCE, "CN", quota={"A100": 8}) for t in ("ta", "tb")}
    s = dataclasses.replace(scenario(site("a", pools=(Pool("A100", 2, 8),))), tenants=ts)

    def tb(i: str, a: float, d: float) -> Job:
        return job(i, arrival=a, gpus=4, duration=d).copy(tenant="tb")

    jobs = [tb("p", 0.0, 0.2), tb("q", 0.0, 5.0), tb("r", 0.0, 0.3), tb("s", 0.0, 5.0),
            tb("u", 0.25, 4.0), tb("v", 0.35, 4.0),
            job("a1", arrival=1.0, gpus=8, duration=1.0).copy(tenant="ta")]  # fmt: skip
    clock = ManualClock()
    sched = Scheduler(s, KueuePolicy(), clock)
    events = [e for e in run(sched, clock, jobs, record_events=True).events if e[0] >= 1.0]
    assert [(round(t, 6), kind, j) for t, kind, j, _ in events] == [
        (1.0, "preempt", "v"),
        (1.0, "preempt", "u"),
        (5.0, "finish", "q"),
        (5.0, "finish", "s"),
        (5.0, "start", "a1"),  # it holds quota: Kueue ranks it first
        (5.0, "start", "u"),
        (5.0, "start", "v"),
        (6.0, "finish", "a1"),
        (9.0, "finish", "u"),
        (9.0, "finish", "v"),
    ]

"""`kueue`'s quota holds in its history (`KueuePolicy.saved_state`/`restore_state`): a head
that preempted and waits for its nodes keeps the quota its victims freed across a rebuild, so
that the victims' queue cannot take it back and make the preemption for nothing.

tb (nominal 12) runs q and s, 6 GPUs each, one on each 8-GPU node, and borrows 4 of ta's
quota with u and v in the 2 GPUs left on each node. At 1.0 ta's 8-GPU a1 preempts u and v by
quota, but 2 free GPUs on each node do not hold it: it holds the quota until q and s end at
5.0. (Jobs of 6 GPUs: a rebuild restores the running jobs into capacity anew, node by node,
and two of 4 would share one node and free the other.)
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from builders import job, scenario, site
from suanli.core.clock import ManualClock
from suanli.core.policies.queueing.baselines import KueuePolicy
from suanli.core.scheduler import Scheduler
from suanli.model import Job, Pool, Scenario, Sector, Tenant

HELD = {"a1": (("A100", 8000),)}


def network(qa: int = 8, qb: int = 12) -> Scenario:
    ts = {
        t: Tenant(t, t.upper(), Sector.FINANCE, "CN", quota={"A100": q})
        for t, q in (("ta", qa), ("tb", qb))
    }
    return dataclasses.replace(scenario(site("a", pools=(Pool("A100", 2, 8),))), tenants=ts)


def tb(i: str, a: float, d: float, gpus: int) -> Job:
    return job(i, arrival=a, gpus=gpus, duration=d).copy(tenant="tb")


JOBS = {
    j.id: j
    for j in (
        tb("q", 0.0, 5.0, 6),
        tb("s", 0.0, 5.0, 6),
        tb("u", 0.25, 4.0, 2),
        tb("v", 0.35, 4.0, 2),
        job("a1", arrival=1.0, gpus=8, duration=1.0).copy(tenant="ta"),
    )
}


def held_at_1h() -> tuple[Scheduler, KueuePolicy, ManualClock]:
    """The run up to a1's preemption at 1.0: u and v wait, a1 holds 8 A100 of ta's quota."""
    clock = ManualClock()
    policy = KueuePolicy()
    sched = Scheduler(network(), policy, clock)
    steps: list[tuple[float, list[str], list[str]]] = [
        (0.0, ["q", "s"], []),
        (0.25, ["u"], []),
        (0.35, ["v"], []),
        (1.0, ["a1"], []),
    ]
    for t, arrive, end in steps:
        clock.set(t)
        for jid in end:
            sched.finish(jid)
        for jid in arrive:
            sched.submit(JOBS[jid])
        sched.cycle()
    assert [r.placement.job.id for r in sched.preemptions] == ["v", "u"]
    assert set(sched.running) == {"q", "s"}
    assert policy.reserved == HELD
    return sched, policy, clock


def rebuilt(
    old: Scheduler, state: dict[str, Any], clock: ManualClock, s: Scenario | None = None
) -> tuple[Scheduler, KueuePolicy]:
    """A fresh policy over ``old``'s jobs, as the service rebuilds one: the history (through
    JSON, as it is stored) before any job, then the running jobs, then the waiting ones."""
    policy = KueuePolicy()
    sched = Scheduler(s or network(), policy, clock)
    waiting = ["u", "v", "a1"]
    policy.restore_state(json.loads(json.dumps(state)), set(old.running) | set(waiting))
    for p in old.running.values():
        sched.restore(p.job, p.option, p.start_h)
    for jid in waiting:
        sched.submit(JOBS[jid])
    return sched, policy


def cycle_at(clock: ManualClock, t: float, *scheds: Scheduler) -> list[list[str]]:
    clock.set(t)
    return [[p.job.id for p in s.cycle().started] for s in scheds]


def test_a_restored_hold_keeps_the_victims_from_taking_the_quota_back() -> None:
    old, policy, clock = held_at_1h()
    state = policy.saved_state()
    assert state["holds"] == {"a1": {"A100": 8000}}
    new, restored = rebuilt(old, state, clock)
    assert restored.restored == HELD  # held again once a1 arrives
    assert restored.saved_state()["holds"] == state["holds"]  # saved before the first cycle
    # the first cycle after the rebuild: u and v still wait for quota, as in the old policy
    assert cycle_at(clock, 1.01, old, new) == [[], []]
    assert restored.reserved == policy.reserved == HELD
    assert restored.restored == {}
    for queue in ("ta", "tb"):
        assert restored.book.used(queue, "A100") == policy.book.used(queue, "A100")
    assert getattr(new, "preemptions", []) == []
    # q and s end: a1 starts on a freed node, u and v on the other (as in the old policy)
    for s in (old, new):
        s.finish("q")
        s.finish("s")
    started = cycle_at(clock, 5.0, old, new)
    assert sorted(started[0]) == sorted(started[1]) == ["a1", "u", "v"]
    assert restored.reserved == {} and restored.saved_state()["holds"] == {}
    assert restored.saved_state() == policy.saved_state()


def test_without_the_hold_the_head_within_its_nominal_quota_still_goes_before_the_victims() -> None:
    """The history as it was saved before the holds were in it. Kueue ranks a cycle's heads
    within their nominal quota before those that borrow, so a1 (ta, within its 8) is
    admitted by quota again before u and v (tb, borrowing) are looked at, and they wait: the
    rebuild does not undo the preemption. (Ranked by age alone, as `kueue` did before, u and
    v went first, started on the GPUs they had freed, and a1 preempted them once more.)"""
    old, policy, clock = held_at_1h()
    state = {k: v for k, v in policy.saved_state().items() if k != "holds"}
    new, restored = rebuilt(old, state, clock)
    assert cycle_at(clock, 1.01, new) == [[]]
    assert getattr(new, "preemptions", []) == []
    assert restored.reserved == HELD
    assert "no A100 quota left" in restored.jobs["u"].pending.waiting_reason


def test_a_hold_is_dropped_when_its_job_is_gone_runs_or_the_quota_no_longer_holds_it() -> None:
    old, policy, clock = held_at_1h()
    state = policy.saved_state()
    state["holds"]["gone"] = {"A100": 4000}  # a job no longer waiting nor running
    state["holds"]["q"] = {"A100": 6000}  # a running job (it cannot hold one: it runs)
    state["holds"]["u"] = {"NoSuchType": 2000}  # a flavor gone from the network
    _, restored = rebuilt(old, state, clock)
    assert restored.restored == {"a1": (("A100", 8000),)}
    assert "gone" not in restored.saved_state()["holds"]
    # a smaller cohort: tb's running q and s (12) use all but 4 of it, the hold would exceed it
    new, smaller = rebuilt(old, policy.saved_state(), ManualClock(1.0), network(4, 12))
    new.cycle()
    assert smaller.reserved == {} and smaller.restored == {}
    assert smaller.book.used("ta", "A100") == 0

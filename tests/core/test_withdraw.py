"""`Scheduler.withdraw` with the placement policies: a job cancelled while it waits leaves the
scheduler at once, and what the policy planned for it is free for others."""

from __future__ import annotations

import pytest

from builders import job, scenario, site
from suanli.core.clock import ManualClock
from suanli.core.policies import make_policy
from suanli.core.policies.suanli import SuanliPolicy
from suanli.core.scheduler import Scheduler
from suanli.sim.engine import run

#: one site, one node of 8 A100, flat price and carbon: of equal plans the earliest wins
ONE = scenario(site("a"))


def events(policy: str, jobs: list, withdrawals: dict[str, float]) -> list[tuple]:
    clock = ManualClock()
    sched = Scheduler(ONE, make_policy(policy), clock)
    trace = run(sched, clock, jobs, record_events=True, withdrawals=withdrawals)
    assert sched.policy.waiting() == 0 and sched.running == {}
    return [(round(t, 6), what, jid) for t, what, jid, _ in trace.events]


def planned_jobs() -> list:
    """j0 fills the node until 2.0; j1 (the whole node) is planned for 2.0; j2 (the whole
    node too) arrives at 0.5, when j1 is withdrawn."""
    return [
        job("j0", arrival=0.0, gpus=8, duration=2.0, types=("A100",)),
        job("j1", arrival=0.1, gpus=8, duration=1.0, types=("A100",)),
        job("j2", arrival=0.5, gpus=8, duration=1.0, types=("A100",)),
    ]


def test_suanli_a_withdrawn_plans_capacity_is_free_for_another_job_at_once() -> None:
    assert events("suanli", planned_jobs(), {"j1": 0.5}) == [
        (0.0, "start", "j0"),
        (0.5, "withdraw", "j1"),
        (2.0, "finish", "j0"),
        (2.0, "start", "j2"),  # in j1's planned slot
        (3.0, "finish", "j2"),
    ]


def test_suanli_without_the_withdrawal_the_plan_keeps_its_slot() -> None:
    assert [e for e in events("suanli", planned_jobs(), {}) if e[1] == "start"] == [
        (0.0, "start", "j0"),
        (2.0, "start", "j1"),
        (3.0, "start", "j2"),
    ]


def test_suanli_withdraw_gives_the_calendar_back_exactly() -> None:
    clock = ManualClock()
    policy = SuanliPolicy()
    sched = Scheduler(ONE, policy, clock)
    before = policy.calendar.free.copy()
    sched.submit(job("j0", gpus=8, duration=2.0, types=("A100",)))
    sched.cycle()
    running = policy.calendar.free.copy()
    clock.set(0.1)
    sched.submit(job("j1", arrival=0.1, gpus=8, duration=1.0, types=("A100",)))
    sched.cycle()
    assert policy.planned["j1"].plan_start == 2.0
    assert policy.calendar.min_free(0, 2.0, 3.0) == 0
    assert sched.withdraw("j1", "cancelled")
    assert (policy.calendar.free == running).all()  # only j0's run is left on it
    assert policy.waiting() == 0 and not sched.withdraw("j1", "again")
    # its entry in the plan's heap is stale: the planned start passes without a start
    clock.set(2.0)
    sched.finish("j0")
    out = sched.cycle()
    assert out.started == [] and [w.job_id for w in out.withdrawn] == ["j1"]
    assert (before >= policy.calendar.free).all()


@pytest.mark.parametrize("policy", ["nearest", "cheapest", "greenest"])
def test_baselines_a_withdrawn_head_no_longer_blocks_its_sites_queue(policy: str) -> None:
    jobs = [
        job("j0", arrival=0.0, gpus=6, duration=2.0, types=("A100",)),
        job("head", arrival=0.1, gpus=8, duration=1.0, types=("A100",)),
        job("small", arrival=0.2, gpus=2, duration=1.0, types=("A100",)),
    ]
    assert events(policy, jobs, {"head": 0.5}) == [
        (0.0, "start", "j0"),
        (0.5, "withdraw", "head"),
        (0.5, "start", "small"),
        (1.5, "finish", "small"),
        (2.0, "finish", "j0"),
    ]
    # without the withdrawal the head holds small back (strict FCFS)
    assert (3.0, "start", "small") in events(policy, jobs, {})


@pytest.mark.parametrize("policy", ["suanli", "nearest", "kueue", "suanli-queue"])
def test_withdraw_takes_only_jobs_that_wait(policy: str) -> None:
    clock = ManualClock()
    sched = Scheduler(ONE, make_policy(policy), clock)
    sched.submit(job("run", gpus=2, duration=2.0, types=("A100",)))
    sched.submit(job("fresh", gpus=2, duration=1.0, types=("A100",)))
    assert sched.withdraw("fresh", "cancelled before its first cycle")
    out = sched.cycle()
    assert [p.job.id for p in out.started] == ["run"]
    assert [w.job_id for w in out.withdrawn] == ["fresh"]
    assert not sched.withdraw("run", "running: its driver stops it")
    assert "run" in sched.running
    assert not sched.withdraw("unknown", "never submitted")
    assert sched.cycle().withdrawn == []
    clock.set(2.0)
    sched.finish("run")
    sched.cycle()
    assert not sched.withdraw("run", "ended")
    assert sched.policy.waiting() == 0

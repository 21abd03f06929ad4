"""A queueing policy's history (`QueueingPolicy.saved_state`/`restore_state`): what the service
saves so that a rebuilt policy orders queues as the one before it."""

from __future__ import annotations

import pytest

from suanli.core.clock import ManualClock
from suanli.core.options import feasibility
from suanli.core.policies.queueing.suanli import SuanliQueuePolicy
from suanli.core.scheduler import Scheduler
from suanli.errors import SchedulingError
from suanli.model import Classification, DataAsset, Job, JobKind
from suanli.scenario import load_scenario


def bound(now: float = 6.0) -> tuple[Scheduler, SuanliQueuePolicy]:
    policy = SuanliQueuePolicy()
    return Scheduler(load_scenario("china-edwc"), policy, ManualClock(now)), policy


SAVED = {
    "at_h": 5.0,
    "usage": {
        "fin-bank": {"A100": 3.0, "NoSuchType": 1.0},  # a flavor gone from the network
        "a-deleted-tenant": {"A100": 2.0},  # a queue gone from the configuration
    },
    "held": {"fin-bank": {"A100": 8.0}},
    "reclaims": {"j1": 2, "j-finished": 1},
    "hold_until": {"j1": 5.1, "j-finished": 4.0},
}


def test_a_restored_history_keeps_only_the_queues_flavors_and_jobs_that_still_exist() -> None:
    _, policy = bound()
    policy.restore_state(SAVED, {"j1"})
    assert policy.decayed.now == 5.0
    assert policy.decayed.average == {("fin-bank", "A100"): 3.0}
    assert policy.decayed.current == {}  # the running jobs are counted again by their restore
    assert policy.decayed.of("health-hospitals", "A100") == 0.0  # a queue new to the history
    assert (policy.reclaims, policy.hold_until) == ({"j1": 2}, {"j1": 5.1})
    again = policy.saved_state()
    assert again["at_h"] == 5.0 and again["usage"] == {"fin-bank": {"A100": 3.0}}
    assert (again["reclaims"], again["hold_until"], again["held"]) == ({"j1": 2}, {"j1": 5.1}, {})


def test_a_restored_running_job_counts_from_the_time_the_history_holds_at() -> None:
    scheduler, policy = bound()
    policy.restore_state(SAVED, set())
    job = Job(
        id="j1",
        tenant="fin-bank",
        kind=JobKind.TRAIN,
        accelerators=8,
        types=("A800",),
        duration_h=2.0,
        arrival_h=0.0,
        data=DataAsset("guian", 0.0, Classification.GENERAL),
    )
    option = next(o for o in feasibility(job, scheduler.cost).options if o.site == "guian")
    scheduler.restore(job, option, start_h=1.0)
    assert policy.decayed.current == {("fin-bank", "A800"): 8.0}
    assert policy.decayed.now == 5.0
    with pytest.raises(SchedulingError, match="before any job"):
        policy.restore_state(SAVED, set())

"""The leader lease and the scheduler's restore path."""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

import pytest
from serving import running_service, submit_small_jobs
from sqlalchemy import event, text

import suanli.service.loop as loop_module
from suanli.core.clock import ManualClock
from suanli.core.options import feasibility
from suanli.core.policies import make_policy
from suanli.core.scheduler import Scheduler
from suanli.errors import SchedulingError
from suanli.model import Classification, DataAsset, Job, JobKind
from suanli.scenario import load_scenario
from suanli.service.leader import LeaderLease, LostLeadership
from suanli.service.storage import Store, make_engine, migrate


def test_one_replica_holds_the_lease_until_it_expires_and_the_old_leader_is_fenced(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        Store(engine).seed(load_scenario("china-edwc"))
        a = LeaderLease(engine, "a", ttl_s=0.5)
        b = LeaderLease(engine, "b", ttl_s=0.5)
        assert a.acquire() and not b.acquire()
        assert a.acquire()  # renewal
        time.sleep(0.6)
        assert b.acquire() and b.term == 2
        with pytest.raises(LostLeadership), engine.begin() as conn:
            a.fence(conn)
            conn.execute(text("UPDATE meta SET value = 'x' WHERE key = 'scenario'"))
        assert Store(engine).meta("scenario") == "china-edwc"  # rolled back
        assert not a.acquire()
        b.release()
        assert a.acquire() and a.term == 3
    finally:
        engine.dispose()


def _job(i: int) -> Job:
    return Job(
        id=f"j{i}",
        tenant="fin-bank",
        kind=JobKind.TRAIN,
        accelerators=8,
        types=("A800",),
        duration_h=2.0,
        arrival_h=0.0,
        data=DataAsset("guian", 0.0, Classification.GENERAL),
    )


def test_restore_puts_a_running_job_back_into_capacity_without_a_policy_decision() -> None:
    scenario = load_scenario("china-edwc")
    clock = ManualClock(1.0)
    s = Scheduler(scenario, make_policy("nearest"), clock)
    job = _job(1)
    option = next(o for o in feasibility(job, s.cost).options if o.site == "guian")
    free = s.capacity.free(option.site_idx, option.pool)
    p = s.restore(job, option, start_h=0.5)
    assert s.running["j1"] is p and p.end_h == 0.5 + option.runtime_h
    assert p.explanation.reason == "restored after a restart"
    assert s.capacity.free(option.site_idx, option.pool) == free - 8
    s.finish("j1")
    assert s.capacity.free(option.site_idx, option.pool) == free


def test_restore_refuses_a_job_that_does_not_fit() -> None:
    scenario = load_scenario("china-edwc")
    s = Scheduler(scenario, make_policy("nearest"), ManualClock())
    big = _job(2).copy(accelerators=100_000)
    option = next(o for o in feasibility(_job(2), s.cost).options if o.site == "guian")
    with pytest.raises(SchedulingError):
        s.restore(big, option, 0.0)


def test_a_tick_that_admits_many_jobs_commits_them_in_short_transactions_each_complete(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop_module, "WRITE_CHUNK", 40)
    with running_service(db_url, scheduler="off") as svc, svc.client("tenant") as c:
        ids = submit_small_jobs(c, 100)
        batches: list[tuple[str, int]] = []

        def count(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
            if many and statement.startswith("UPDATE jobs SET"):
                batches.append(("admit" if "site=" in statement else "launch", len(params)))

        def commit(_conn: Any) -> None:
            batches.append(("commit", 0))

        engine = svc.service.engine
        event.listen(engine, "before_cursor_execute", count)
        event.listen(engine, "commit", commit)
        svc.service.loop.step()  # takes the lease, admits and launches everything at once
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine, "commit", commit)
        updates = [b for b in batches if b[0] != "commit"]
        sizes = [40, 40, 20]  # WRITE_CHUNK at most
        assert updates == [("admit", n) for n in sizes] + [("launch", n) for n in sizes]
        at = [i for i, b in enumerate(batches) if b[0] != "commit"]
        # each in its own transaction: a commit between any two of them
        assert all(("commit", 0) in batches[i:j] for i, j in pairwise(at))
        for job_id in ids:
            states = [e["toState"] for e in c.get(f"/v1/jobs/{job_id}/events").json()]
            assert states == ["queued", "admitted", "running"]

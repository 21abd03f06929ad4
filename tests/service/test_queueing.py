"""The multi-tenant queueing policies in the service: quotas from the database, borrowing and
reclaim carried out on the backend, priority classes, flavor scopes.

The loop is driven step by step (``scheduler="off"``): a step is one tick of the leader. Jobs
run on V100 at br-sp: no seeded tenant has a V100 quota, so the tests' quotas are the only
ones in the cohort's pool. The fake backend runs each job for an hour per run-time hour, so
nothing ends during a test.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from serving import Running, ServerProcess, job_doc, prepare_db, running_service, wait_for
from sqlalchemy import select

from suanli.core.policies.queueing import QueueingPolicy
from suanli.core.policies.queueing.baselines import KueuePolicy
from suanli.core.policies.queueing.suanli import SuanliQueuePolicy
from suanli.core.policies.suanli import SuanliPolicy
from suanli.core.queueing import FlavorQuota
from suanli.errors import InputError, UnknownNameError
from suanli.service import Service, ServiceConfig, dashboard
from suanli.service import loop as loop_module
from suanli.service.backends import FakeBackend
from suanli.service.backends.base import RunState, RunStatus
from suanli.service.jobs import to_model_job
from suanli.service.loop import HISTORY, STOPPING, ExplainingPolicy
from suanli.service.storage.repo import EVENTS
from suanli.service.topology import ServiceClock

BANK, HOSP = "fin-bank", "health-hospitals"
RECLAIMING = ["kueue", "suanli-queue"]


@contextmanager
def queueing(db_url: str, policy: str = "kueue", **changes: Any) -> Iterator[Running]:
    backend = changes.pop("runs_on", None) or FakeBackend(seconds_per_hour=3600)
    with running_service(db_url, backend, scheduler="off", policy=policy, **changes) as svc:
        yield svc


def v100(tenant: str, name: str, count: int = 8, **spec: Any) -> dict[str, Any]:
    return job_doc(
        name=name,
        tenant=tenant,
        accelerators={"count": count, "types": ["V100"]},
        data={"site": "br-sp", "sizeGB": 0},
        deadline=None,
        **spec,
    )


def submit(c: httpx.Client, doc: dict[str, Any]) -> str:
    r = c.post("/v1/jobs", json=doc)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def tick(svc: Running, sweep: bool = True) -> None:
    """One leader tick; ``sweep``: with the periodic part (rebuild check, waiting reasons)."""
    loop = svc.service.loop
    if sweep:
        loop._last_sweep = float("-inf")
    loop.step()


def status(c: httpx.Client, job_id: str) -> dict[str, Any]:
    return dict(c.get(f"/v1/jobs/{job_id}").json()["status"])


def states(c: httpx.Client, job_id: str) -> list[str | None]:
    return [e["toState"] for e in c.get(f"/v1/jobs/{job_id}/events").json()]


def quotas(c: httpx.Client, **by_tenant: dict[str, int]) -> None:
    for tenant, q in by_tenant.items():
        r = c.put(f"/v1/tenants/{tenant}/quota", json={"accelerators": q})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("policy", RECLAIMING)
def test_a_tenant_over_its_quota_waits_with_the_quota_reason_while_another_tenants_job_starts(
    db_url: str, policy: str
) -> None:
    with queueing(db_url, policy) as svc, svc.client() as op:
        quotas(op, **{BANK: {"V100": 8}, HOSP: {"V100": 8}})
        a1 = submit(op, v100(BANK, "a1"))
        h1 = submit(op, v100(HOSP, "h1"))
        a2 = submit(op, v100(BANK, "a2"))
        tick(svc)
        tick(svc)
        assert status(op, a1)["state"] == "running"
        assert status(op, h1)["state"] == "running"
        waiting = status(op, a2)
        assert waiting["state"] == "queued"
        assert "queue fin-bank has no V100 quota left" in waiting["reason"], waiting["reason"]
        # the pool has room: only the quota holds it back
        assert svc.service.loop.state is not None
        assert len(svc.service.loop.state.scheduler.running) == 2


def test_a_placement_policy_does_not_enforce_quotas(db_url: str) -> None:
    with queueing(db_url, "nearest") as svc, svc.client() as op:
        quotas(op, **{BANK: {"V100": 8}})
        ids = [submit(op, v100(BANK, f"a{i}")) for i in range(3)]
        tick(svc)
        assert [status(op, j)["state"] for j in ids] == ["running"] * 3


@pytest.mark.parametrize("policy", RECLAIMING)
def test_idle_quota_is_borrowed_and_its_owner_reclaims_it_preempting_the_borrower(
    db_url: str, policy: str
) -> None:
    backend = FakeBackend(seconds_per_hour=3600)
    with queueing(db_url, policy, runs_on=backend) as svc, svc.client() as op:
        quotas(op, **{BANK: {"V100": 8}, HOSP: {"V100": 8}})
        bank = [submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))]
        tick(svc)
        assert [status(op, j)["state"] for j in bank] == ["running", "running"]  # a2 borrows
        handles = {j: svc.service.store.job(j)["handle"] for j in bank}  # type: ignore[index]
        h1 = submit(op, v100(HOSP, "h1"))
        tick(svc)
        tick(svc)
        assert status(op, h1)["state"] == "running"
        victims = [j for j in bank if status(op, j)["state"] == "queued"]
        assert len(victims) == 1, [status(op, j) for j in bank]
        (victim,) = victims
        assert backend.cancelled == {handles[victim]}
        assert states(op, victim) == [
            "queued",
            "admitted",
            "running",
            "preempted",
            "queued",
            None,  # run-stopped: its run cancelled on the backend
        ]
        events = op.get(f"/v1/jobs/{victim}/events").json()
        assert h1 in events[3]["reason"] and events[3]["actor"] == "scheduler"
        assert f"requeued by the {policy} policy" in events[4]["reason"]
        assert events[5]["action"] == "run-stopped" and handles[victim] in events[5]["reason"]
        # it waits again, for quota: its reason says so once the next cycle looked at it
        assert "no V100 quota left" in status(op, victim)["reason"]
        with svc.service.engine.connect() as conn:  # sealed into the audit ledger
            sealed = conn.execute(
                select(EVENTS.c.action, EVENTS.c.ledger_seq).where(EVENTS.c.subject_id == victim)
            ).all()
        assert {a for a, seq in sealed if seq is not None} >= {"preempted", "run-stopped"}
        assert svc.service.store.meta(STOPPING) == "[]"
        # the victim waits for quota again; it does not preempt back
        tick(svc)
        assert status(op, victim)["state"] == "queued"
        assert status(op, h1)["state"] == "running"


@pytest.mark.parametrize("policy", RECLAIMING)
def test_a_job_whose_class_never_preempts_waits_instead_of_reclaiming(
    db_url: str, policy: str
) -> None:
    backend = FakeBackend(seconds_per_hour=3600)
    with queueing(db_url, policy, runs_on=backend) as svc, svc.client() as op:
        r = op.post(
            "/v1/priority-classes",
            json={"name": "patient", "value": 0, "preemptionPolicy": "Never"},
        )
        assert r.status_code == 201, r.text
        quotas(op, **{BANK: {"V100": 8}, HOSP: {"V100": 8}})
        bank = [submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))]
        tick(svc)
        h1 = submit(op, v100(HOSP, "h1", priorityClass="patient"))
        tick(svc)
        tick(svc)
        assert [status(op, j)["state"] for j in bank] == ["running", "running"]
        assert backend.cancelled == set()
        waiting = status(op, h1)
        assert waiting["state"] == "queued" and "V100 quota" in waiting["reason"]


@pytest.mark.parametrize("policy", RECLAIMING)
@pytest.mark.parametrize(
    "limits",
    [
        {BANK: {"borrowingLimit": {"V100": 0}}},  # the borrower may not borrow
        {HOSP: {"lendingLimit": {"V100": 0}}},  # the owner lends none of its quota
    ],
    ids=["borrowing", "lending"],
)
def test_borrowing_and_lending_limits_keep_idle_quota_from_being_borrowed(
    db_url: str, policy: str, limits: dict[str, dict[str, Any]]
) -> None:
    with queueing(db_url, policy) as svc, svc.client() as op:
        for tenant in (BANK, HOSP):
            body = {"accelerators": {"V100": 8}, **limits.get(tenant, {})}
            r = op.put(f"/v1/tenants/{tenant}/quota", json=body)
            assert r.status_code == 200, r.text
            got = op.get(f"/v1/tenants/{tenant}/quota").json()
            empty = {"borrowingLimit": {}, "lendingLimit": {}, "cohort": "network"}
            assert got == {**empty, **body}
        a1, a2 = submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))
        tick(svc)
        tick(svc)
        assert status(op, a1)["state"] == "running"
        waiting = status(op, a2)
        assert waiting["state"] == "queued" and "no V100 quota left" in waiting["reason"]
        h1 = submit(op, v100(HOSP, "h1"))  # the owner's own quota is still its own
        tick(svc)
        assert status(op, h1)["state"] == "running"


def test_a_limit_must_name_a_flavor_of_the_quota_and_lend_at_most_the_quota(
    sqlite_url: str,
) -> None:
    with queueing(sqlite_url) as svc, svc.client() as op:
        for body, field in [
            ({"accelerators": {"V100": 8}, "borrowingLimit": {"A100": 1}}, "borrowingLimit.A100"),
            ({"accelerators": {"V100": 8}, "lendingLimit": {"V100": 9}}, "lendingLimit.V100"),
            ({"accelerators": {"V100": 8}, "lendingLimit": {"V100": -1}}, "lendingLimit.V100"),
        ]:
            r = op.put(f"/v1/tenants/{BANK}/quota", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["errors"][0]["field"] == field, r.json()


@pytest.mark.parametrize("never", [False, True], ids=["preempts", "never"])
def test_kueue_preempts_a_lower_priority_job_of_the_same_tenant_for_a_higher_class(
    db_url: str, never: bool
) -> None:
    backend = FakeBackend(seconds_per_hour=3600)
    with queueing(db_url, "kueue", runs_on=backend) as svc, svc.client() as op:
        klass = {"name": "urgent", "value": 100}
        if never:
            klass["preemptionPolicy"] = "Never"
        assert op.post("/v1/priority-classes", json=klass).status_code == 201
        body = {"accelerators": {"V100": 8}, "borrowingLimit": {"V100": 0}}
        assert op.put(f"/v1/tenants/{BANK}/quota", json=body).status_code == 200
        low = submit(op, v100(BANK, "low", priority=0))
        tick(svc)
        assert status(op, low)["state"] == "running"
        high = submit(op, v100(BANK, "high", priorityClass="urgent"))
        tick(svc)
        tick(svc)
        if never:
            assert [status(op, j)["state"] for j in (low, high)] == ["running", "queued"]
            assert backend.cancelled == set()
        else:
            assert [status(op, j)["state"] for j in (low, high)] == ["queued", "running"]
            assert "preempted" in states(op, low)
            assert len(backend.cancelled) == 1


@pytest.mark.parametrize("policy", ["fifo", "slurm", "kueue", "suanli-queue"])
def test_every_queueing_policy_runs_jobs_to_the_end_in_the_service(
    sqlite_url: str, policy: str
) -> None:
    with queueing(sqlite_url, policy, runs_on=FakeBackend()) as svc, svc.client() as op:
        # under kueue and suanli-queue a flavor no tenant has quota for cannot be used (as in
        # Kueue): the seeded tenants have none for V100
        quotas(op, **{BANK: {"V100": 8}})
        ids = [submit(op, v100(BANK, f"a{i}")) for i in range(3)]  # one at a time in quota
        hosp = job_doc(tenant=HOSP, deadline=None, data={"site": "guian", "sizeGB": 0})
        ids.append(submit(op, hosp))  # A100 or Ascend910B
        for _ in range(8):
            tick(svc)
        assert [status(op, j)["state"] for j in ids] == ["succeeded"] * 4


def test_a_backlog_longer_than_one_cycles_scan_keeps_starting_without_new_events(
    sqlite_url: str,
) -> None:
    """A queueing cycle examines at most ``scan_limit`` jobs; the rest must not wait for an
    unrelated event (a submission, an end) to be looked at."""
    with queueing(sqlite_url) as svc, svc.client() as op:
        quotas(op, **{BANK: {"A800": 1000}})
        doc = job_doc(
            tenant=BANK,
            accelerators={"count": 1, "types": ["A800"]},
            durationHours=1,
            deadline=None,
            data={"site": "guian", "sizeGB": 0},
        )
        ids = [submit(op, doc) for _ in range(450)]
        assert svc.service.loop.state is None
        tick(svc, sweep=False)
        st = svc.service.loop.state
        assert st is not None
        policy = st.scheduler.policy
        assert isinstance(policy, ExplainingPolicy) and isinstance(policy.inner, QueueingPolicy)
        assert len(st.scheduler.running) == policy.inner.scan_limit < len(ids)
        tick(svc, sweep=False)  # nothing happened meanwhile
        assert len(st.scheduler.running) == len(ids)
        tick(svc, sweep=False)
        assert not st.dirty  # the backlog is gone: no more cycles without a reason


@pytest.mark.parametrize("policy", ["slurm", "suanli-queue"])
def test_a_job_that_can_backfill_starts_at_the_next_backfill_pass_without_new_events(
    sqlite_url: str, policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between backfill passes a cycle stops at the first blocked job; a job that could
    backfill behind it must not wait for an unrelated event to get its pass."""
    monkeypatch.setattr(QueueingPolicy, "backfill_interval_h", 0.5 / 3600)  # 0.5 s
    with queueing(sqlite_url, policy) as svc, svc.client() as op:
        quotas(op, **{BANK: {"V100": 160}})
        big = submit(op, v100(BANK, "big", count=152))  # 19 of br-sp's 20 V100 nodes
        tick(svc, sweep=False)
        assert status(op, big)["state"] == "running"
        # needs 2 nodes, 1 is free; the shorter, so first in suanli-queue's order too
        blocked = submit(op, v100(BANK, "blocked", count=16, durationHours=1))
        tick(svc, sweep=False)  # within 0.5 s of the last pass: it waits for the next
        small = submit(op, v100(BANK, "small", count=8, durationHours=2))
        tick(svc, sweep=False)  # not a backfill pass: stops at the blocked job
        assert status(op, small)["state"] == "queued"
        time.sleep(0.6)
        tick(svc, sweep=False)  # the pass is due: no event, but the loop wakes for it
        assert status(op, small)["state"] == "running"
        assert status(op, blocked)["state"] == "queued"


def test_a_quota_change_takes_effect_without_a_restart(db_url: str) -> None:
    with queueing(db_url) as svc, svc.client() as op:
        quotas(op, **{BANK: {"V100": 8}})
        a1, a2 = submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))
        tick(svc)
        tick(svc)
        assert status(op, a2)["state"] == "queued"
        quotas(op, **{BANK: {"V100": 16}})
        tick(svc)  # the sweep sees the new queueing version and rebuilds
        tick(svc)
        assert [status(op, a1)["state"], status(op, a2)["state"]] == ["running", "running"]
        with svc.service.engine.connect() as conn:
            rebuilt = conn.execute(
                select(EVENTS.c.reason).where(EVENTS.c.action == "scheduler.rebuilt")
            ).scalars()
            assert any("tenants, quotas or priority classes changed" in r for r in rebuilt)


def test_running_jobs_count_against_the_quota_after_a_restart(sqlite_url: str) -> None:
    backend = FakeBackend(seconds_per_hour=3600)
    with queueing(sqlite_url, runs_on=backend) as svc, svc.client() as op:
        quotas(op, **{BANK: {"V100": 8}})
        a1 = submit(op, v100(BANK, "a1"))
        tick(svc)
        assert status(op, a1)["state"] == "running"
    with queueing(sqlite_url, runs_on=backend) as svc, svc.client() as op:
        a2 = submit(op, v100(BANK, "a2"))
        tick(svc)
        tick(svc)
        assert status(op, a1)["state"] == "running"
        waiting = status(op, a2)
        assert waiting["state"] == "queued" and "no V100 quota left" in waiting["reason"]


class DiesOnCancel(FakeBackend):
    """A backend whose first cancel is the leader dying (the exception ends the tick)."""

    def __init__(self) -> None:
        super().__init__(seconds_per_hour=3600)
        self.die = True

    def cancel(self, handle: str) -> None:
        if self.die:
            self.die = False
            raise SystemError("the leader died before it could stop the run")
        super().cancel(handle)


def test_a_leader_that_dies_between_recording_a_preemption_and_stopping_the_run_loses_nothing(
    sqlite_url: str,
) -> None:
    backend = DiesOnCancel()
    with queueing(sqlite_url, runs_on=backend) as svc, svc.client() as op:
        quotas(op, **{BANK: {"V100": 8}, HOSP: {"V100": 8}})
        bank = [submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))]
        tick(svc)
        handles = {j: svc.service.store.job(j)["handle"] for j in bank}  # type: ignore[index]
        h1 = submit(op, v100(HOSP, "h1"))
        with pytest.raises(SystemError):
            tick(svc)
        (victim,) = [j for j in bank if status(op, j)["state"] == "queued"]
        assert backend.cancelled == set()
        assert handles[victim] in (svc.service.store.meta(STOPPING) or "")
        assert status(op, h1)["state"] == "queued"  # not admitted before the run was stopped
    with queueing(sqlite_url, runs_on=backend) as svc, svc.client() as op:
        tick(svc)  # the new leader stops the recorded run, then schedules
        tick(svc)
        assert backend.cancelled == {handles[victim]}
        assert svc.service.store.meta(STOPPING) == "[]"
        assert status(op, h1)["state"] == "running"
        assert status(op, victim)["state"] == "queued"
        assert "failed" not in states(op, victim)


# -- the fair-share history across rebuilds ----------------------------------------------

AUTO, JAPAN = "mfg-auto", "intl-japan"


class AheadClock(ServiceClock):
    """The service's clock, ``ahead_h`` hours ahead of the wall: usage adds up in hours
    within a test (the backend and the lease stay on the wall clock)."""

    def __init__(self, epoch: float) -> None:
        super().__init__(epoch)
        self.ahead_h = 0.0

    def now(self) -> float:
        return super().now() + self.ahead_h


def ahead(svc: Running, clock: AheadClock | None = None) -> AheadClock:
    """Put ``svc``'s loop on an `AheadClock` (before its first tick builds the scheduler)."""
    loop = svc.service.loop
    assert loop.state is None
    loop.clock = clock or AheadClock(loop.epoch)
    return loop.clock  # type: ignore[return-value]


def leading_policy(svc: Running) -> QueueingPolicy:
    st = svc.service.loop.state
    assert st is not None
    policy = st.scheduler.policy
    assert isinstance(policy, ExplainingPolicy) and isinstance(policy.inner, QueueingPolicy)
    return policy.inner


def fill_br_sp(op: httpx.Client) -> str:
    """Quotas of 8 V100 for the bank and the hospitals, 152 for mfg-auto, whose job then takes
    19 of br-sp's 20 V100 nodes: one more 8-V100 job fits."""
    quotas(op, **{BANK: {"V100": 8}, HOSP: {"V100": 8}, AUTO: {"V100": 152}})
    return submit(op, v100(AUTO, "big", count=152))


def assert_same_usage(restored: QueueingPolicy, kept: QueueingPolicy) -> None:
    """``restored`` (rebuilt) holds the usage ``kept`` (the old policy) has at the same time."""
    kept.decayed.advance(restored.decayed.now)
    assert restored.decayed.now == kept.decayed.now
    assert restored.decayed.average.keys() == kept.decayed.average.keys()
    for (queue, flavor), value in kept.decayed.average.items():
        assert restored.decayed.of(queue, flavor) == pytest.approx(value, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("policy", ["slurm", "suanli-queue"])
def test_a_rebuild_keeps_the_decayed_usage_and_the_tenant_that_used_less_goes_first(
    db_url: str, policy: str
) -> None:
    with queueing(db_url, policy) as svc, svc.client() as op:
        clock = ahead(svc)
        big = fill_br_sp(op)
        a1 = submit(op, v100(BANK, "a1"))
        tick(svc)
        assert [status(op, big)["state"], status(op, a1)["state"]] == ["running", "running"]
        clock.ahead_h += 5.0  # the bank holds 8 V100 for 5 h
        assert op.post(f"/v1/jobs/{a1}/cancel").status_code == 200
        tick(svc)
        assert status(op, a1)["state"] == "cancelled"
        old = leading_policy(svc)
        at_h, average = old.decayed.snapshot()
        held_5h = 8 * (1 - 2 ** (-5.0 / old.half_life_h))
        assert average[(BANK, "V100")] == pytest.approx(held_5h, rel=1e-3)
        saved = json.loads(svc.service.store.meta(HISTORY) or "{}")  # with the cycle's commit
        assert saved["at_h"] == at_h and saved["usage"][BANK]["V100"] == average[(BANK, "V100")]
        clock.ahead_h += 2.0
        quotas(op, **{JAPAN: {"H100": 100}})
        tick(svc)  # the sweep rebuilds the scheduler; its first cycle advances the usage
        new = leading_policy(svc)
        assert new is not old
        decayed_2h = average[(BANK, "V100")] * math.exp(-new.decayed.lam * (new.decayed.now - at_h))
        assert new.decayed.now - at_h == pytest.approx(2.0, abs=0.01)
        assert new.decayed.of(BANK, "V100") == pytest.approx(decayed_2h, rel=1e-12)
        assert_same_usage(new, old)  # mfg-auto's running job too
        # the bank asks first, but used more: the hospitals' job takes the last node
        b2 = submit(op, v100(BANK, "b2"))
        h1 = submit(op, v100(HOSP, "h1"))
        tick(svc)
        assert [status(op, h1)["state"], status(op, b2)["state"]] == ["running", "queued"]


def test_a_new_leader_takes_back_the_usage_and_the_reclaim_backoff(db_url: str) -> None:
    backend = FakeBackend(seconds_per_hour=3600)
    with (
        queueing(db_url, "suanli-queue", runs_on=backend) as first,
        queueing(db_url, "suanli-queue", runs_on=backend) as second,
        first.client() as op,
    ):
        clock = ahead(first)
        ahead(second, clock)
        quotas(op, **{BANK: {"V100": 8}, HOSP: {"V100": 8}})
        bank = [submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))]
        tick(first)
        assert [status(op, j)["state"] for j in bank] == ["running", "running"]  # a2 borrows
        clock.ahead_h += 3.0
        h1 = submit(op, v100(HOSP, "h1"))
        tick(first)  # the hospitals reclaim their quota: one bank job is held back
        tick(first)
        assert status(op, h1)["state"] == "running"
        (victim,) = [j for j in bank if status(op, j)["state"] == "queued"]
        old = leading_policy(first)
        assert isinstance(old, SuanliQueuePolicy) and old.reclaims == {victim: 1}
        hold = old.hold_until[victim]
        clock.ahead_h += 0.01  # 36 s: within the victim's 60 s hold
        time.sleep(first.service.config.lease_ttl_s + 0.2)  # the first leader is gone
        tick(second)
        assert second.service.loop.lease.term == 2
        new = leading_policy(second)
        assert isinstance(new, SuanliQueuePolicy)
        assert_same_usage(new, old)
        assert new.decayed.of(BANK, "V100") > new.decayed.of(HOSP, "V100") > 0
        assert new.reclaims == {victim: 1} and new.hold_until == {victim: hold}
        assert status(op, victim)["state"] == "queued"


class EndsWhenTold(FakeBackend):
    """A fake backend whose runs end when the test says (``ended``: job ids; ``lost``: those
    it loses)."""

    def __init__(self) -> None:
        super().__init__(seconds_per_hour=3600)
        self.ended: set[str] = set()
        self.lost: set[str] = set()

    def poll(self, handle: str) -> RunStatus:
        job_id = handle.split(":")[1]
        if job_id in self.lost:
            return RunStatus(RunState.LOST, "lost")
        if job_id in self.ended:
            return RunStatus(RunState.SUCCEEDED, "ended")
        return super().poll(handle)


@pytest.mark.parametrize("end", ["finishes", "cancelled", "lost"])
def test_a_run_that_ends_in_a_tick_whose_write_fails_keeps_its_usage_in_the_history(
    db_url: str, end: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bank's a1 holds 8 V100 for 5 h, then ends (its run finishes, it is cancelled, or
    the backend loses it and it is requeued) in a tick whose write transaction with the
    cycle's history fails (rolled back). The rebuilt scheduler must count a1's 5 h: its end
    and the history that counts it are committed together, so either both are (the history
    counts it) or neither is (a1 is restored running from the time the history holds at and
    ends again at the next tick).
    Before, the end was committed alone first: the history saved at a1's start was taken
    back, a1 was not restored, and its 5 h were lost."""
    backend = EndsWhenTold()
    with queueing(db_url, "suanli-queue", runs_on=backend) as svc, svc.client() as op:
        clock = ahead(svc)
        quotas(op, **{BANK: {"V100": 8}})
        a1 = submit(op, v100(BANK, "a1"))
        tick(svc)
        assert status(op, a1)["state"] == "running"
        saved_at = json.loads(svc.service.store.meta(HISTORY) or "{}")["at_h"]
        clock.ahead_h += 5.0
        if end == "finishes":
            backend.ended.add(a1)
        elif end == "lost":
            backend.lost.add(a1)
        else:
            assert op.post(f"/v1/jobs/{a1}/cancel").status_code == 200
        save_meta = loop_module._save_meta

        def fails(conn: Any, key: str, value: str) -> None:
            if key == HISTORY:
                raise SystemError("the database went away")
            save_meta(conn, key, value)

        monkeypatch.setattr(loop_module, "_save_meta", fails)
        with pytest.raises(SystemError):
            tick(svc, sweep=False)
        monkeypatch.setattr(loop_module, "_save_meta", save_meta)
        assert json.loads(svc.service.store.meta(HISTORY) or "{}")["at_h"] == saved_at
        assert status(op, a1)["state"] == "running"  # its end was not committed either
        svc.service.loop.state = None  # as the loop's thread does after a failed tick
        tick(svc)  # rebuilt: a1 restored running, then it ends (again) in the first cycle
        after = {"finishes": "succeeded", "cancelled": "cancelled", "lost": "queued"}
        assert status(op, a1)["state"] == after[end]
        assert states(op, a1).count("admitted") == 1  # restored, not run again
        policy = leading_policy(svc)
        held_5h = 8 * (1 - 2 ** (-5.0 / policy.half_life_h))
        assert policy.decayed.of(BANK, "V100") == pytest.approx(held_5h, rel=1e-3)
        saved = json.loads(svc.service.store.meta(HISTORY) or "{}")
        assert saved["usage"][BANK]["V100"] == pytest.approx(held_5h, rel=1e-3)
        assert saved["held"] == {BANK: {"V100": 0.0}}


def test_ends_committed_in_several_transactions_count_each_run_once_when_one_fails(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs of 8 V100 end together after 5 h; their ends take two write transactions
    (`WRITE_CHUNK` 1), the first with the history, and the second fails. a1's end and the
    history that counts both are committed; a2 is restored running from the history's time
    and ends again at the next tick: its usage counts once (plus the moments in between)."""
    monkeypatch.setattr(loop_module, "WRITE_CHUNK", 1)
    backend = EndsWhenTold()
    with queueing(db_url, "suanli-queue", runs_on=backend) as svc, svc.client() as op:
        clock = ahead(svc)
        quotas(op, **{BANK: {"V100": 16}})
        a1, a2 = submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))
        tick(svc)
        assert [status(op, j)["state"] for j in (a1, a2)] == ["running"] * 2
        clock.ahead_h += 5.0
        backend.ended.update((a1, a2))
        finish_rows = loop_module.SchedulingLoop._finish_rows
        calls: list[int] = []

        def second_fails(self: Any, conn: Any, rows: Any, dst: str) -> None:
            calls.append(len(rows))
            if len(calls) == 2:
                raise SystemError("the database went away")
            finish_rows(self, conn, rows, dst)

        monkeypatch.setattr(loop_module.SchedulingLoop, "_finish_rows", second_fails)
        with pytest.raises(SystemError):
            tick(svc, sweep=False)
        monkeypatch.setattr(loop_module.SchedulingLoop, "_finish_rows", finish_rows)
        ended = [j for j in (a1, a2) if status(op, j)["state"] == "succeeded"]
        assert len(ended) == 1
        assert json.loads(svc.service.store.meta(HISTORY) or "{}")["held"] == {BANK: {"V100": 0.0}}
        svc.service.loop.state = None  # as the loop's thread does after a failed tick
        tick(svc)  # rebuilt: the other restored running from the history's time, then it ends
        assert [status(op, j)["state"] for j in (a1, a2)] == ["succeeded"] * 2
        policy = leading_policy(svc)
        held_5h = 16 * (1 - 2 ** (-5.0 / policy.half_life_h))
        assert policy.decayed.of(BANK, "V100") == pytest.approx(held_5h, rel=1e-3)


def kueue_hold(op: httpx.Client, svc: Running) -> tuple[str, list[str], list[str]]:
    """Under kueue, the hospitals' 8-V100 h1 preempts the bank's u and v by quota but does not
    fit the nodes (2 V100 free on each of two), so it holds the quota they freed: mfg-auto's
    144 V100 fill 18 of br-sp's 20 nodes, the bank (nominal 12) runs 6 V100 on each of the
    other two (q, s) and borrows 4 of the hospitals' 8 with u and v in the 2 left on each.
    (Jobs of 6: a rebuild restores the running jobs into capacity anew, and two of 4 would
    share a node there and free one for h1.)"""
    quotas(op, **{BANK: {"V100": 12}, HOSP: {"V100": 8}, AUTO: {"V100": 144}})
    big = submit(op, v100(AUTO, "big", count=144))
    q, s = submit(op, v100(BANK, "q", count=6)), submit(op, v100(BANK, "s", count=6))
    tick(svc)
    u, v = submit(op, v100(BANK, "u", count=2)), submit(op, v100(BANK, "v", count=2))
    tick(svc)
    assert [status(op, j)["state"] for j in (big, q, s, u, v)] == ["running"] * 5
    h1 = submit(op, v100(HOSP, "h1"))
    tick(svc)
    tick(svc)
    assert [status(op, j)["state"] for j in (q, s, u, v, h1)] == [
        "running", "running", "queued", "queued", "queued"
    ]  # fmt: skip
    return h1, [u, v], [q, s]


@pytest.mark.parametrize("rebuild", ["leader", "another-quota", "its-quota"])
def test_kueue_quota_holds_survive_a_rebuild_and_the_victims_do_not_take_the_quota_back(
    db_url: str, rebuild: str
) -> None:
    """The rebuild: a new leader; a quota of another flavor changed; or the hospitals' own
    nominal lowered to 6 (mfg-auto's raised to 146, so the cohort lends as much as before):
    h1's hold still fits (the hospitals borrow 2 of it), but h1 may no longer reclaim. Without
    the hold, u and v (older) started again in the rebuilt scheduler's first cycle: under the
    first two, h1 preempted them again at once (the loop drops a placement preempted in its
    own cycle: nothing reached the database or the backend, only the search was repeated);
    under the third, they kept the quota (h1 may not reclaim beyond its nominal) and the
    preemption was for nothing."""
    backend = FakeBackend(seconds_per_hour=3600)
    with (
        queueing(db_url, "kueue", runs_on=backend) as first,
        queueing(db_url, "kueue", runs_on=backend) as second,
        first.client() as op,
    ):
        h1, victims, bank = kueue_hold(op, first)
        held = {h1: {"V100": 8000}}
        old = leading_policy(first)
        assert isinstance(old, KueuePolicy) and old.reserved == {h1: (("V100", 8000),)}
        assert json.loads(first.service.store.meta(HISTORY) or "{}")["holds"] == held
        svc = first
        if rebuild == "leader":
            svc = second
            time.sleep(first.service.config.lease_ttl_s + 0.2)  # the first leader is gone
        elif rebuild == "another-quota":
            quotas(op, **{JAPAN: {"H100": 100}})
        else:
            quotas(op, **{HOSP: {"V100": 6}, AUTO: {"V100": 146}})
        tick(svc)  # the new leader, or the sweep, rebuilds the scheduler and runs a cycle
        new = leading_policy(svc)
        assert new is not old and isinstance(new, KueuePolicy)
        assert new.reserved == old.reserved and new.book.used(HOSP, "V100") == 8000
        tick(svc)
        st = svc.service.loop.state
        assert st is not None and not getattr(st.scheduler, "preemptions", [])  # none again
        for victim in victims:  # preempted once, and not started again on the quota it freed
            assert states(op, victim).count("admitted") == 1, states(op, victim)
            assert status(op, victim)["state"] == "queued"
        assert status(op, h1)["state"] == "queued"
        assert json.loads(svc.service.store.meta(HISTORY) or "{}")["holds"] == held
        # the bank's q and s end: their nodes free, h1 starts on one (its hold becomes its
        # running job's quota), and u and v, within the bank's nominal quota now, on the other
        for j in bank:
            assert op.post(f"/v1/jobs/{j}/cancel").status_code == 200
        tick(svc)
        tick(svc)
        assert [status(op, j)["state"] for j in (h1, *victims)] == ["running"] * 3
        assert new.reserved == {} and new.book.used(HOSP, "V100") == 8000
        assert not getattr(st.scheduler, "preemptions", [])
        assert json.loads(svc.service.store.meta(HISTORY) or "{}")["holds"] == {}


def test_kueue_a_blocked_head_cancelled_while_it_waits_unblocks_its_queue_at_the_next_tick(
    db_url: str,
) -> None:
    """mfg-auto (144 V100) and the hospitals (8) use their whole quotas, so nobody lends: the
    bank's a2 (8 V100) fits no quota and, StrictFIFO head of the bank's queue, holds back a3
    (2 V100), which fits the bank's quota and the 2 V100 left beside a1. a2 is cancelled
    while it waits: at the next tick the loop withdraws it and a3 starts (before, a2 stayed
    the head until it started, and a3 waited for a1's end)."""
    with queueing(db_url, "kueue") as svc, svc.client() as op:
        quotas(op, **{BANK: {"V100": 8}, HOSP: {"V100": 8}, AUTO: {"V100": 144}})
        big = submit(op, v100(AUTO, "big", count=144))
        a1 = submit(op, v100(BANK, "a1", count=6))
        h1 = submit(op, v100(HOSP, "h1"))
        tick(svc)
        assert [status(op, j)["state"] for j in (big, a1, h1)] == ["running"] * 3
        a2 = submit(op, v100(BANK, "a2"))
        a3 = submit(op, v100(BANK, "a3", count=2))
        tick(svc)
        tick(svc)
        assert [status(op, j)["state"] for j in (a2, a3)] == ["queued", "queued"]
        assert "StrictFIFO head of fin-bank" in status(op, a2)["reason"]
        policy = leading_policy(svc)
        assert set(policy.jobs) == {a2, a3}
        r = op.post(f"/v1/jobs/{a2}/cancel")
        assert r.status_code == 200 and status(op, a2)["state"] == "cancelled"
        tick(svc, sweep=False)  # the tick's own reads, not the periodic sweep
        assert status(op, a3)["state"] == "running"
        assert policy.waiting() == 0 and a2 not in policy.jobs
        assert states(op, a2) == ["queued", "cancelled"]
        st = svc.service.loop.state
        assert st is not None and a2 not in st.known


def test_a_cancel_the_tick_missed_is_withdrawn_at_the_sweep(db_url: str) -> None:
    """A cancel whose event the tick did not read before it was sealed (committed during the
    tick, after the read) is found by the sweep: the job is known waiting, and not queued."""
    with queueing(db_url, "kueue") as svc, svc.client() as op:
        quotas(op, **{BANK: {"V100": 8}, HOSP: {"V100": 8}, AUTO: {"V100": 144}})
        submit(op, v100(AUTO, "big", count=144))
        submit(op, v100(BANK, "a1", count=6))
        submit(op, v100(HOSP, "h1"))
        tick(svc)
        a2 = submit(op, v100(BANK, "a2"))
        a3 = submit(op, v100(BANK, "a3", count=2))
        tick(svc)
        assert op.post(f"/v1/jobs/{a2}/cancel").status_code == 200
        loop = svc.service.loop
        loop._seal()  # its event is sealed before a tick reads it
        tick(svc, sweep=False)
        assert status(op, a3)["state"] == "queued"  # missed
        tick(svc)  # the sweep
        assert status(op, a3)["state"] == "running"
        assert leading_policy(svc).waiting() == 0


def test_suanli_a_job_cancelled_while_planned_gives_its_calendar_reservation_back(
    db_url: str,
) -> None:
    """Under the calendar policy a job planned for a cheaper hour holds capacity then; once
    cancelled, the next tick withdraws it and the calendar is as before its plan."""
    with queueing(db_url, "suanli") as svc, svc.client() as op, svc.client("tenant") as c:
        tick(svc)  # the scheduler, built with nothing to plan
        st = svc.service.loop.state
        assert st is not None and isinstance(st.scheduler.policy, ExplainingPolicy)
        policy = st.scheduler.policy.inner
        assert isinstance(policy, SuanliPolicy)
        empty = policy.calendar.free.copy()
        j = submit(c, job_doc(data={"site": "guian", "sizeGB": 0}))
        tick(svc)
        planned = policy.planned[j]
        assert planned.plan is not None and planned.plan_start > svc.service.loop.clock.now()
        assert (policy.calendar.free != empty).any()
        assert c.post(f"/v1/jobs/{j}/cancel").status_code == 200
        tick(svc, sweep=False)
        assert j not in policy.planned and policy.waiting() == 0
        assert (policy.calendar.free == empty).all()
        assert j not in st.known and states(op, j) == ["queued", "cancelled"]


# -- priority classes -------------------------------------------------------------------


def test_priority_classes_are_created_listed_and_deleted_and_at_most_one_is_the_default(
    svc: Running,
) -> None:
    with svc.client() as op, svc.client("tenant") as ten:
        made = op.post(
            "/v1/priority-classes",
            json={"name": "urgent", "value": 500, "globalDefault": True, "description": "on call"},
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["preemptionPolicy"] == "PreemptLowerPriority" and body["globalDefault"]
        again = op.post("/v1/priority-classes", json={"name": "urgent", "value": 1})
        assert again.status_code == 409 and again.json()["errors"][0]["field"] == "name"
        second = op.post(
            "/v1/priority-classes", json={"name": "batch", "value": -5, "globalDefault": True}
        )
        assert second.status_code == 409
        assert second.json()["errors"][0]["field"] == "globalDefault"
        assert "'urgent' is already the global default" in second.json()["detail"]
        assert (
            op.post("/v1/priority-classes", json={"name": "batch", "value": -5}).status_code == 201
        )
        assert [c["name"] for c in ten.get("/v1/priority-classes").json()] == ["batch", "urgent"]
        assert ten.get("/v1/priority-classes/batch").json()["value"] == -5
        assert ten.delete("/v1/priority-classes/batch").status_code == 403
        assert op.delete("/v1/priority-classes/batch").status_code == 204
        assert op.get("/v1/priority-classes/batch").status_code == 404
        assert op.delete("/v1/priority-classes/batch").status_code == 404
        for bad, field in [
            ({"name": "x", "value": 1001}, "value"),
            ({"name": "x", "value": 1, "preemptionPolicy": "Sometimes"}, "preemptionPolicy"),
            ({"name": "-x", "value": 1}, "name"),
            ({"name": "x", "value": 1, "colour": "red"}, "colour"),
        ]:
            r = op.post("/v1/priority-classes", json=bad)
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["errors"][0]["field"] == field, r.json()
        actions = [e["action"] for e in op.get("/v1/audit/entries").json()["items"]]
        assert actions  # sealed by the running leader; the class events among them eventually


def test_a_job_names_a_priority_class_and_gets_its_value_and_preemption_policy(
    svc: Running,
) -> None:
    with svc.client() as op, svc.client("tenant") as ten:
        for c in (
            {"name": "prod", "value": 100},
            {"name": "scavenger", "value": -100, "preemptionPolicy": "Never"},
        ):
            assert op.post("/v1/priority-classes", json=c).status_code == 201
        unknown = ten.post("/v1/jobs", json=job_doc(priorityClass="gold"))
        assert unknown.status_code == 422
        problem = unknown.json()["errors"][0]
        assert problem["field"] == "spec.priorityClass" and "'gold'" in problem["message"]
        assert "prod, scavenger" in problem["message"]
        both = ten.post("/v1/jobs", json=job_doc(priorityClass="prod", priority=7))
        assert both.status_code == 422
        assert both.json()["errors"][0]["field"] == "spec.priority"
        assert "disagrees with priority class 'prod'" in both.json()["detail"]
        same = ten.post("/v1/jobs", json=job_doc(priorityClass="prod", priority=100))
        assert same.status_code == 201, same.text
        job = ten.post("/v1/jobs", json=job_doc(priorityClass="scavenger"))
        assert job.status_code == 201, job.text
        assert job.json()["spec"]["priority"] == -100
        assert job.json()["spec"]["priorityClass"] == "scavenger"
        shown = ten.get(f"/v1/jobs/{job.json()['id']}").json()["spec"]
        assert shown["priority"] == -100 and shown["priorityClass"] == "scavenger"
        row = svc.service.store.job(job.json()["id"])
        assert row is not None
        core = to_model_job(row, svc.service.store.epoch())
        assert (core.priority, core.priority_class, core.preempts) == (-100, "scavenger", False)
        # a later change of the class does not change the job
        assert op.delete("/v1/priority-classes/scavenger").status_code == 204
        row = svc.service.store.job(job.json()["id"])
        assert row is not None and not to_model_job(row, 0.0).preempts
        bare = ten.post("/v1/jobs", json=job_doc(priority=3)).json()
        assert bare["spec"]["priorityClass"] is None and bare["spec"]["priority"] == 3


def test_the_global_default_class_applies_to_a_job_that_names_no_priority(svc: Running) -> None:
    with svc.client() as op, svc.client("tenant") as ten:
        body = {"name": "std", "value": 20, "globalDefault": True}
        assert op.post("/v1/priority-classes", json=body).status_code == 201
        svc.service.forget()
        plain = ten.post("/v1/jobs", json=job_doc()).json()
        assert (plain["spec"]["priority"], plain["spec"]["priorityClass"]) == (20, "std")
        numbered = ten.post("/v1/jobs", json=job_doc(priority=0)).json()
        assert (numbered["spec"]["priority"], numbered["spec"]["priorityClass"]) == (0, None)


# -- flavor scopes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "good", "bad"),
    [
        ("network", {"V100": 8}, ["V100@br-sp", "Quantum"]),
        ("site", {"V100@br-sp": 8, "A800@guian": 16}, ["V100", "V100@atlantis", "Quantum@br-sp"]),
        ("hub", {"A800@Guizhou": 8, "L40S@Yangtze River Delta": 8}, ["A800@guian", "A800"]),
    ],
)
def test_quota_keys_follow_the_flavor_scope_and_a_bad_key_is_named(
    sqlite_url: str, scope: str, good: dict[str, int], bad: list[str]
) -> None:
    with queueing(sqlite_url, flavor_scope=scope) as svc, svc.client() as op:
        r = op.put(f"/v1/tenants/{BANK}/quota", json={"accelerators": good})
        assert r.status_code == 200, r.text
        assert op.get(f"/v1/tenants/{BANK}/quota").json()["accelerators"] == good
        for key in bad:
            r = op.put(f"/v1/tenants/{BANK}/quota", json={"accelerators": {**good, key: 1}})
            assert r.status_code == 422, (key, r.text)
            assert r.json()["errors"][0]["field"] == f"accelerators.{key}"
            assert repr(key) in r.json()["detail"]
        policies = op.get("/v1/policies").json()
        assert (policies["queueing"], policies["flavorScope"]) == (True, scope)


def test_a_quota_per_site_is_enforced_per_site(sqlite_url: str) -> None:
    with queueing(sqlite_url, flavor_scope="site") as svc, svc.client() as op:
        # every tenant's quota in the scope: a tenant without one would lend a share
        for t in op.get("/v1/tenants").json():
            quotas(op, **{t["id"]: {"A800@guian": 8}})
        quotas(op, **{BANK: {"V100@br-sp": 8}})
        a1, a2 = submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))
        tick(svc)
        tick(svc)
        assert status(op, a1)["state"] == "running"
        assert "no V100@br-sp quota left" in status(op, a2)["reason"]


def test_the_service_refuses_an_unknown_policy_or_scope(sqlite_url: str) -> None:
    with pytest.raises(UnknownNameError, match="unknown policy 'kube'"):
        Service(ServiceConfig(db_url=sqlite_url, backend="fake", policy="kube"))
    with pytest.raises(InputError, match="--flavor-scope"):
        Service(ServiceConfig(db_url=sqlite_url, backend="fake", flavor_scope="planet"))


def test_stored_quota_keys_of_another_scope_are_named_and_not_enforced(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with queueing(sqlite_url, flavor_scope="site") as svc, svc.client() as op:
        config, ignored = svc.service.queueing_config()
        # the scenario seeds per-type quotas: in the site scope they are left out, named
        assert (
            "tenant fin-bank: quota keys 'A100', 'L40S', 'HygonDCU' are not flavors of the site "
            "scope and are not enforced" in "\n".join(ignored)
        )
        quotas(op, **{BANK: {"V100@br-sp": 8}})
        config, ignored = svc.service.queueing_config()
        assert dict(config.queues[BANK].quotas) == {"V100@br-sp": FlavorQuota(8.0)}
        assert not any(line.startswith("tenant fin-bank:") for line in ignored)
    with caplog.at_level("WARNING", logger="suanli.service"):
        Service(ServiceConfig(db_url=sqlite_url, backend="fake", policy="kueue")).close()
    assert "tenant fin-bank: quota keys 'V100@br-sp' are not flavors of the network" in caplog.text


def test_the_queue_view_counts_borrowing_per_flavor_of_the_scope(sqlite_url: str) -> None:
    with queueing(sqlite_url, flavor_scope="site") as svc, svc.client() as op:
        # the other tenants keep their per-type quotas, not flavors of the site scope: each
        # counts as a tenant without a quota and lends its weighted share of every flavor
        quotas(op, **{BANK: {"V100@br-sp": 8}})
        ids = [submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))]
        tick(svc)
        assert [status(op, j)["state"] for j in ids] == ["running", "running"]
        (bank,) = [t for t in op.get("/v1/queues").json()["tenants"] if t["id"] == BANK]
        assert bank["inUse"] == {"V100": 16}
        assert bank["borrowing"] == 8


# -- the queue view (GET /v1/queues) -------------------------------------------------------


def test_the_queue_view_shows_the_policy_scope_limits_and_priority_classes(
    sqlite_url: str,
) -> None:
    with (
        queueing(sqlite_url, "kueue") as svc,
        svc.client() as op,
        svc.client("tenant") as bank,
    ):
        body = {"accelerators": {"V100": 8}, "borrowingLimit": {"V100": 4}}
        assert op.put(f"/v1/tenants/{BANK}/quota", json=body).status_code == 200
        body = {"accelerators": {"V100": 8}, "lendingLimit": {"V100": 2}}
        assert op.put(f"/v1/tenants/{HOSP}/quota", json=body).status_code == 200
        for klass in (
            {"name": "urgent", "value": 100, "globalDefault": True},
            {"name": "scavenger", "value": -10, "preemptionPolicy": "Never"},
        ):
            assert op.post("/v1/priority-classes", json=klass).status_code == 201
        view = op.get("/v1/queues").json()
        assert (view["policy"], view["queueing"], view["flavorScope"]) == ("kueue", True, "network")
        rows = {t["id"]: t for t in view["tenants"]}
        assert (rows[BANK]["borrowingLimit"], rows[BANK]["lendingLimit"]) == ({"V100": 4}, {})
        assert (rows[HOSP]["borrowingLimit"], rows[HOSP]["lendingLimit"]) == ({}, {"V100": 2})
        classes = {
            c["name"]: (c["value"], c["preemptionPolicy"], c["globalDefault"])
            for c in view["priorityClasses"]
        }
        assert classes == {
            "urgent": (100, "PreemptLowerPriority", True),
            "scavenger": (-10, "Never", False),
        }
        assert (view["preemptions"], view["preemptionsTotal"]) == ([], 0)
        mine = bank.get("/v1/queues").json()  # a tenant: its own row, every class
        assert [t["id"] for t in mine["tenants"]] == [BANK]
        assert mine["tenants"][0]["borrowingLimit"] == {"V100": 4}
        assert {c["name"] for c in mine["priorityClasses"]} == {"urgent", "scavenger"}


def test_the_queue_view_of_a_placement_policy_says_it_does_not_queue(svc: Running) -> None:
    with svc.client() as op:
        view = op.get("/v1/queues").json()
    assert (view["policy"], view["queueing"], view["flavorScope"]) == ("nearest", False, "network")


@pytest.mark.parametrize("policy", RECLAIMING)
def test_a_reclaim_shows_in_the_queue_view_with_the_work_the_policy_measured_lost(
    db_url: str, policy: str
) -> None:
    with (
        queueing(db_url, policy) as svc,
        svc.client() as op,
        svc.client("tenant") as bank,
        svc.client("other") as hospitals,
    ):
        quotas(op, **{BANK: {"V100": 8}, HOSP: {"V100": 8}})
        jobs = [submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))]
        tick(svc)
        h1 = submit(op, v100(HOSP, "h1"))
        tick(svc)
        tick(svc)
        (victim,) = [j for j in jobs if status(op, j)["state"] == "queued"]
        view = op.get("/v1/queues").json()
        assert view["preemptionsTotal"] == 1
        (shown,) = view["preemptions"]
        assert (shown["jobId"], shown["tenant"]) == (victim, BANK)
        assert shown["jobName"] in ("a1", "a2") and h1 in shown["reason"], shown
        # the reason of its preempted event, and the work lost as the policy measured it
        events = op.get(f"/v1/jobs/{victim}/events").json()
        assert shown["reason"] == next(e["reason"] for e in events if e["toState"] == "preempted")
        assert svc.service.loop.state is not None
        (record,) = svc.service.loop.state.scheduler.preemptions
        assert shown["lostGpuH"] == pytest.approx(record.wasted_gpu_h)
        assert 0 <= shown["lostGpuH"] < 8 * 0.1  # 8 accelerators for a fraction of a tick
        # a tenant sees the preemptions of its own jobs only
        assert bank.get("/v1/queues").json()["preemptions"] == view["preemptions"]
        theirs = hospitals.get("/v1/queues").json()
        assert (theirs["preemptions"], theirs["preemptionsTotal"]) == ([], 0)
        assert [t["id"] for t in theirs["tenants"]] == [HOSP]


def test_the_queue_view_lists_the_newest_preemptions_first_and_counts_them_all(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with queueing(db_url, "kueue") as svc, svc.client() as op:
        body = {"accelerators": {"V100": 8}, "borrowingLimit": {"V100": 0}}
        assert op.put(f"/v1/tenants/{BANK}/quota", json=body).status_code == 200
        low = submit(op, v100(BANK, "low", priority=0))
        tick(svc)
        mid = submit(op, v100(BANK, "mid", priority=50))
        tick(svc)
        tick(svc)
        high = submit(op, v100(BANK, "high", priority=100))
        tick(svc)
        tick(svc)
        assert [status(op, j)["state"] for j in (low, mid, high)] == ["queued", "queued", "running"]
        view = op.get("/v1/queues").json()
        assert [p["jobId"] for p in view["preemptions"]] == [mid, low]
        assert view["preemptionsTotal"] == 2
        assert high in view["preemptions"][0]["reason"] and mid in view["preemptions"][1]["reason"]
        monkeypatch.setattr(dashboard, "PREEMPTIONS_SHOWN", 1)
        view = op.get("/v1/queues").json()
        assert [p["jobId"] for p in view["preemptions"]] == [mid]
        assert view["preemptionsTotal"] == 2


# -- the command line and the scheduler process --------------------------------------------


def test_the_cli_creates_lists_and_deletes_classes_and_submits_with_one(
    sqlite_url: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from suanli.cli import app

    with queueing(sqlite_url) as svc:
        cli = CliRunner()
        op = {"SUANLI_URL": svc.url, "SUANLI_TOKEN": svc.tokens["operator"]}
        ten = {"SUANLI_URL": svc.url, "SUANLI_TOKEN": svc.tokens["tenant"]}
        made = cli.invoke(
            app, ["priority-class", "create", "spot", "--value", "-50", "--never"], env=op
        )
        assert made.exit_code == 0, made.output
        assert made.output.split() == ["spot", "-50", "Never"]
        listed = cli.invoke(app, ["priority-class", "list", "--json"], env=ten)
        assert [(c["name"], c["globalDefault"]) for c in json.loads(listed.output)] == [
            ("spot", False)
        ]
        refused = cli.invoke(app, ["priority-class", "create", "x", "--value", "1"], env=ten)
        assert refused.exit_code == 2 and "403" in refused.output
        path = tmp_path / "job.yaml"
        path.write_text(yaml.safe_dump(v100(BANK, "cli")))
        sent = cli.invoke(app, ["submit", str(path), "--priority-class", "spot"], env=ten)
        assert sent.exit_code == 0, sent.output
        with svc.client() as c:
            spec = c.get(f"/v1/jobs/{sent.output.split()[0]}").json()["spec"]
        assert (spec["priority"], spec["priorityClass"]) == (-50, "spot")
        bad = cli.invoke(app, ["submit", str(path), "--priority-class", "gold"], env=ten)
        assert bad.exit_code == 2 and "spec.priorityClass" in bad.output
        gone = cli.invoke(app, ["priority-class", "delete", "spot"], env=op)
        assert gone.exit_code == 0 and "deleted" in gone.output
        again = cli.invoke(app, ["priority-class", "delete", "spot"], env=op)
        assert again.exit_code == 2 and "404" in again.output


@pytest.mark.slow
def test_serve_runs_a_queueing_policy_in_its_scheduler_process(sqlite_url: str) -> None:
    tokens = prepare_db(sqlite_url)
    args = ("--policy", "kueue", "--flavor-scope", "site", "--fake-seconds-per-hour", "3600")
    server = ServerProcess(sqlite_url, *args)  # --scheduler process, the default
    try:
        headers = {"Authorization": f"Bearer {tokens['operator']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as op:
            policies = op.get("/v1/policies").json()
            assert (policies["scheduling"], policies["queueing"]) == ("kueue", True)
            assert policies["flavorScope"] == "site"
            for t in op.get("/v1/tenants").json():
                quotas(op, **{t["id"]: {"A800@guian": 8}})
            quotas(op, **{BANK: {"V100@br-sp": 8}})
            a1, a2 = submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))
            wait_for(lambda: status(op, a1)["state"] == "running", timeout=20)
            wait_for(lambda: "no V100@br-sp quota left" in status(op, a2)["reason"], timeout=20)
            assert status(op, a2)["state"] == "queued"
    finally:
        server.stop()

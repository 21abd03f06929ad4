"""A job withdrawn while it waits (`Scheduler.withdraw`: cancelled before it started) leaves
the queueing policies at once, with everything they held for it: kueue's StrictFIFO head
position and quota hold, the backfill policies' reservation, the waiting count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.queueing.test_policies import TWO_NODES
from tests.queueing.test_queueing_kueue_holds import HELD, JOBS, held_at_1h

from builders import job, scenario, site, tenants
from suanli.core.capacity import job_milli
from suanli.core.clock import ManualClock
from suanli.core.policies import POLICIES, make_policy
from suanli.core.policies.calendar import SLOTS_PER_HOUR, Calendar
from suanli.core.policies.queueing.base import QueueingPolicy
from suanli.core.policies.queueing.baselines import KueuePolicy
from suanli.core.policies.queueing.suanli import SuanliQueuePolicy
from suanli.core.policies.suanli import SuanliPolicy
from suanli.core.scheduler import CycleOutcome, Scheduler
from suanli.model import Job, Pool, Scenario
from suanli.sim.engine import run

Event = tuple[float, str, str, str]


def go(
    s: Scenario, policy: str, jobs: Sequence[Job], withdrawals: Mapping[str, float]
) -> tuple[list[Event], Scheduler]:
    clock = ManualClock()
    sched = Scheduler(s, make_policy(policy), clock)
    t = run(sched, clock, jobs, record_events=True, withdrawals=withdrawals)
    return [(round(a, 6), b, c, d) for a, b, c, d in t.events], sched


#: one site of 8 A100 on one node; ta and tb each own 4
ONE = tenants(scenario(site("a")), {"ta": 4, "tb": 4})


def kueue_blocked_head() -> list[Job]:
    """tb uses its own 4 until 5.0, so ta may not borrow: ta's head h (6 GPUs) fits no
    quota and cannot preempt (ta would exceed its nominal), and StrictFIFO holds n (2 GPUs,
    which fits ta's quota and the node) behind it."""
    return [
        job("b1", arrival=0.0, gpus=4, duration=5.0).copy(tenant="tb"),
        job("h", arrival=0.5, gpus=6, duration=1.0).copy(tenant="ta"),
        job("n", arrival=0.6, gpus=2, duration=1.0).copy(tenant="ta"),
    ]


def test_kueue_a_withdrawn_strict_fifo_head_unblocks_its_queue() -> None:
    events, sched = go(ONE, "kueue", kueue_blocked_head(), {"h": 1.0})
    assert events == [
        (0.0, "start", "b1", "a"),
        (1.0, "withdraw", "h", ""),
        (1.0, "start", "n", "a"),  # the next head, in the cycle of the withdrawal
        (2.0, "finish", "n", "a"),
        (5.0, "finish", "b1", "a"),
    ]
    assert sched.policy.waiting() == 0


def test_kueue_the_head_blocks_its_queue_until_it_is_withdrawn() -> None:
    """The same run without the withdrawal (the reference): n waits for b1's end."""
    events, _ = go(ONE, "kueue", kueue_blocked_head(), {})
    assert [e for e in events if e[1] == "start"] == [
        (0.0, "start", "b1", "a"),
        (5.0, "start", "h", "a"),
        (5.0, "start", "n", "a"),
    ]


def test_kueue_a_withdrawn_admitted_job_gives_its_quota_hold_back() -> None:
    """a1 (ta) was admitted by quota after preempting u and v (tb's borrowers) and waits for
    nodes, holding 8 of ta's quota (`test_queueing_kueue_holds`). Withdrawn, its hold goes
    back to the book: tb may borrow it again, and u and v start in the free GPUs."""
    sched, policy, clock = held_at_1h()
    assert policy.book.used("ta", "A100") == 8000
    clock.set(1.5)
    assert sched.withdraw("a1", "cancelled")
    assert policy.reserved == {} and policy.book.used("ta", "A100") == 0
    assert policy.waiting() == 2  # u and v
    out = sched.cycle()
    assert [w.job_id for w in out.withdrawn] == ["a1"]
    assert sorted(p.job.id for p in out.started) == ["u", "v"]
    assert policy.book.used("tb", "A100") == 16000  # 12 own, 4 borrowed from ta
    assert policy.book.violations() == []
    assert "a1" not in policy.saved_state()["holds"]
    assert not sched.withdraw("a1", "again")  # gone


def test_kueue_the_hold_keeps_the_quota_from_the_borrowers_until_withdrawn() -> None:
    """The reference: left alone, a1's hold keeps u and v waiting."""
    sched, policy, clock = held_at_1h()
    clock.set(1.5)
    assert sched.cycle().started == []
    assert policy.reserved == HELD
    assert JOBS["a1"].tenant == "ta"


#: one tenant owning the whole site: only room (not quota) blocks a job
WHOLE = tenants(scenario(site("a")), {"ta": 8})


def backfill_jobs() -> list[Job]:
    """j1 runs 6 GPUs until 2.0; big (8 GPUs) is the blocked top job, reserved at 2.0; long
    (2 GPUs, 5 h) would delay that reservation, so it may not backfill."""
    return [
        job("j1", arrival=0.0, gpus=6, duration=2.0).copy(tenant="ta"),
        job("big", arrival=0.1, gpus=8, duration=1.0).copy(tenant="ta"),
        job("long", arrival=0.3, gpus=2, duration=5.0).copy(tenant="ta"),
    ]


def test_backfill_a_withdrawn_top_jobs_reservation_no_longer_blocks() -> None:
    for policy in ("slurm", "suanli-queue"):
        events, sched = go(WHOLE, policy, backfill_jobs(), {"big": 0.5})
        assert events == [
            (0.0, "start", "j1", "a"),
            (0.5, "withdraw", "big", ""),
            (0.5, "start", "long", "a"),
            (2.0, "finish", "j1", "a"),
            (5.5, "finish", "long", "a"),
        ], policy
        assert sched.policy.waiting() == 0


def test_backfill_the_reservation_holds_long_back_until_withdrawn() -> None:
    for policy in ("slurm", "suanli-queue"):
        events, _ = go(WHOLE, policy, backfill_jobs(), {})
        assert [e for e in events if e[1] == "start"] == [
            (0.0, "start", "j1", "a"),
            (2.0, "start", "big", "a"),
            (3.0, "start", "long", "a"),
        ], policy


#: (tenant, gpus, duration, arrival, priority, withdrawal this long after arrival or None)
WITHDRAWING = st.lists(
    st.tuples(
        st.sampled_from(["ta", "tb", "tc"]),
        st.sampled_from([0.5, 1.0, 2.0, 4.0, 8.0, 16.0]),
        st.floats(0.1, 4.0),
        st.floats(0.0, 6.0),
        st.integers(0, 2),
        st.one_of(st.none(), st.floats(0.0, 3.0)),
    ),
    min_size=1,
    max_size=14,
)


def watch_waiting(sched: Scheduler) -> list[tuple[float, int, int]]:
    """After every cycle of ``sched``: (time, the policy's `waiting`, the jobs waiting as its
    driver counts them: submitted, not running, not ended, not rejected, not withdrawn)."""
    submitted: set[str] = set()
    gone: set[str] = set()
    seen: list[tuple[float, int, int]] = []
    submit, finish, cycle = sched.submit, sched.finish, sched.cycle

    def on_submit(j: Job) -> None:
        submitted.add(j.id)
        submit(j)

    def on_finish(job_id: str) -> object:
        gone.add(job_id)
        return finish(job_id)

    def on_cycle() -> CycleOutcome:
        out = cycle()
        gone.update(r.job.id for r in out.rejected)
        gone.update(w.job_id for w in out.withdrawn)
        waiting = len(submitted - gone - set(sched.running))
        seen.append((sched.clock.now(), sched.policy.waiting(), waiting))
        pol = sched.policy
        if isinstance(pol, KueuePolicy):  # a quota hold is a waiting job's
            assert set(pol.reserved) <= set(pol.jobs), (pol.reserved, set(pol.jobs))
        return out

    sched.submit, sched.finish, sched.cycle = on_submit, on_finish, on_cycle  # type: ignore
    return seen


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=WITHDRAWING, policy=st.sampled_from(sorted(POLICIES)))
def test_withdrawn_jobs_never_start_and_every_other_job_runs_once(
    spec: list[tuple[str, float, float, float, int, float | None]], policy: str
) -> None:
    check_withdrawals(spec, policy, TWO_NODES)


#: quotas that add up to the two nodes' 16 A100 and jobs of 2 to 6 GPUs: the nodes fragment,
#: so a job often fits its queue's quota and no node, and kueue admits it by quota and it
#: holds quota while its pods wait
FRAGMENTING = tenants(scenario(site("a", pools=(Pool("A100", 2, 8),))), {"ta": 8, "tb": 8})
HOLDING = st.lists(
    st.tuples(
        st.sampled_from(["ta", "tb"]),
        st.sampled_from([2.0, 4.0, 6.0]),
        st.floats(0.5, 4.0),
        st.floats(0.0, 3.0),
        st.integers(0, 2),
        st.one_of(st.none(), st.floats(0.0, 2.0)),
    ),
    min_size=4,
    max_size=14,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=HOLDING)
def test_kueue_withdrawn_jobs_that_hold_quota_give_it_back(
    spec: list[tuple[str, float, float, float, int, float | None]],
) -> None:
    check_withdrawals(spec, "kueue", FRAGMENTING)


def check_withdrawals(
    spec: list[tuple[str, float, float, float, int, float | None]], policy: str, s: Scenario
) -> None:
    """Run ``spec`` under ``policy`` on ``s``, withdrawing jobs as it says, and check that
    what was withdrawn waiting never starts, the rest runs once, and nothing is left over."""
    jobs = [
        job(f"j{i}", arrival=a, gpus=g, duration=d, types=("A100",)).copy(tenant=t, priority=p)
        for i, (t, g, d, a, p, _) in enumerate(spec)
    ]
    withdrawals = {f"j{i}": a + w for i, (_, _, _, a, _, w) in enumerate(spec) if w is not None}
    clock = ManualClock()
    sched = Scheduler(s, make_policy(policy), clock)
    seen = watch_waiting(sched)
    trace = run(sched, clock, jobs, record_events=True, withdrawals=withdrawals)
    withdrawn = dict((j, t) for t, j in trace.withdrawn)
    assert set(withdrawn) <= set(withdrawals)
    event(f"withdrawn while waiting: {({0: 'none', 1: 'one'}).get(len(withdrawn), 'several')}")
    # a job withdrawn while it waited never starts after (before, it may have run and been
    # preempted), nor finishes; every other job runs to completion once
    for t, kind, jid, _ in trace.events:
        if kind == "start" and jid in withdrawn:
            assert t < withdrawn[jid], (jid, t)
    finished = Counter(e[2] for e in trace.events if e[1] == "finish")
    rejected = {r.job.id for r in trace.rejections}
    for j in jobs:
        assert finished[j.id] == (0 if j.id in withdrawn or j.id in rejected else 1), j.id
    # the policy's count of waiting jobs is the driver's, after every cycle
    assert all(counted == waiting for _, counted, waiting in seen), seen
    assert sched.running == {} and sched.policy.waiting() == 0
    assert sched.capacity.free_milli == sched.capacity.total_milli
    assert all(p.grant.milli == job_milli(p.job) for p in trace.placements)
    pol = sched.policy
    if isinstance(pol, QueueingPolicy):
        if pol.enforce_quota:
            assert pol.quota_violations == 0
        assert pol.book.violations() == []
        # nothing is left on the book: no hold of a withdrawn job outlives it
        assert all(pol.book.used(q, "A100") == 0 for q in pol.config.queues)
        assert pol.sizes == Counter()
        if isinstance(pol, KueuePolicy):
            assert pol.reserved == {}
    if isinstance(pol, SuanliPolicy):
        # the calendar holds the runs and nothing else: no plan of a withdrawn job is left
        ref = Calendar(pol.capacity, pol.calendar.slots // SLOTS_PER_HOUR)
        for p in trace.placements:
            for g, a in pol._pieces(p.option, p.job.accelerators):
                ref.reserve(g, p.start_h, p.start_h + p.option.runtime_h, a)
        assert (ref.free == pol.calendar.free).all()


def test_suanli_queue_a_withdrawn_job_takes_its_reclaim_backoff_with_it() -> None:
    """A reclaimed job waits with a backoff (`hold_until`, `reclaims`) that wakes a cycle when
    it ends; withdrawn, its backoff goes too, and no cycle is asked for it."""
    clock = ManualClock()
    policy = make_policy("suanli-queue")
    assert isinstance(policy, SuanliQueuePolicy)
    sched = Scheduler(WHOLE, policy, clock)
    sched.submit(job("j1", gpus=8, duration=1.0).copy(tenant="ta"))
    sched.submit(job("w", gpus=8, duration=2.0).copy(tenant="ta"))
    sched.cycle()
    assert set(policy.jobs) == {"w"}
    policy.hold_until["w"], policy.reclaims["w"] = 0.5, 1  # as a reclaim leaves them
    assert policy.wake_h(0.1) == 0.5
    assert sched.withdraw("w", "cancelled")
    assert policy.hold_until == {} and policy.reclaims == {}
    assert policy.wake_h(0.1) is None
    sched.cycle()  # the next cycle reserves for nobody it no longer holds
    assert policy.reservation is None or policy.reservation.job_id != "w"

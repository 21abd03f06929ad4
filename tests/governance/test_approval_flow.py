"""PendingApproval in the scheduler core: held with the reason, approved or denied by method."""

from __future__ import annotations

import pytest
from gov_builders import CROSS_BORDER, engine, gjob

from suanli.core.clock import ManualClock
from suanli.core.policies import make_policy
from suanli.core.scheduler import PendingApproval, Scheduler
from suanli.errors import SchedulingError
from suanli.governance.approvals import ApprovalStatus
from suanli.governance.attributes import JobAttributes
from suanli.governance.engine import GovernanceEngine
from suanli.model import Classification
from suanli.sim.engine import run

#: fin is a CIIO (any export of personal information needs an assessment) and may use only
#: H800 in China; its T4 job can therefore run only at sg, after an approval
ONLY_ABROAD = {
    "id": "cn-h800", "kind": "acceleratorAllowList", "tenants": ["fin"],
    "jurisdictions": ["CN"], "allow": ["H800"],
}  # fmt: skip


def governed() -> GovernanceEngine:
    return engine(
        CROSS_BORDER, ONLY_ABROAD, tenants={"fin": {"ciio": True}},
        attributes={"p": JobAttributes(people=50_000)},
    )  # fmt: skip


def held_job(eng: GovernanceEngine) -> tuple[Scheduler, ManualClock]:
    clock = ManualClock()
    scheduler = Scheduler(eng.scenario, make_policy("greenest"), clock, rules=eng)
    scheduler.submit(gjob("p", tenant="fin", cls=Classification.PERSONAL, types=("T4",)))
    return scheduler, clock


def test_a_job_that_needs_approval_everywhere_is_held_with_the_reason() -> None:
    eng = governed()
    scheduler, _ = held_job(eng)
    out = scheduler.cycle()
    assert not out.started and not out.rejected
    (held,) = out.held
    assert scheduler.pending_approval == {"p": held}
    assert held.rules == ("pi",) and set(held.reasons) == {"sg"}
    assert "critical information infrastructure" in held.reasons["sg"]
    assert set(held.excluded) == {"bj", "tj", "gz"}


def test_an_approved_job_is_taken_in_again_and_starts() -> None:
    eng = governed()
    scheduler, clock = held_job(eng)
    scheduler.cycle()
    (req,) = eng.request_approvals("p", 0.0)
    clock.set(4.0)
    scheduler.approve("p", "CAC-2026-0042")
    out = scheduler.cycle()
    (placement,) = out.started
    assert placement.option.site == "sg" and placement.start_h == 4.0
    assert scheduler.pending_approval == {}
    decided = eng.approvals.get(req.id)
    assert decided.status is ApprovalStatus.APPROVED and decided.evidence == "CAC-2026-0042"


def test_a_denied_job_is_rejected_with_every_sites_reason() -> None:
    eng = governed()
    scheduler, clock = held_job(eng)
    scheduler.cycle()
    eng.request_approvals("p", 0.0)
    clock.set(2.0)
    scheduler.deny("p", "volume not justified")
    out = scheduler.cycle()
    (rejection,) = out.rejected
    assert set(rejection.reasons) == {"bj", "tj", "gz", "sg"}
    assert rejection.reasons["sg"].endswith("approval denied: volume not justified")
    assert rejection.time_h == 2.0
    assert eng.approvals.requests()[0].status is ApprovalStatus.DENIED


def test_the_simulator_drives_the_decision_in_virtual_time() -> None:
    eng = governed()
    clock = ManualClock()
    scheduler = Scheduler(eng.scenario, make_policy("greenest"), clock, rules=eng)

    def regulator(held: PendingApproval, now: float) -> tuple[float, bool, str]:
        eng.request_approvals(held.job.id, now)
        return now + 4.0, True, "sim-ref"

    jobs = [gjob("p", tenant="fin", cls=Classification.PERSONAL, types=("T4",), arrival=1.0)]
    trace = run(scheduler, clock, jobs, regulator=regulator, record_events=True)
    assert trace.approvals == [(1.0, "held", "p"), (5.0, "approved", "p")]
    assert [(t, e, j, s) for t, e, j, s in trace.events if e == "start"] == [
        (5.0, "start", "p", "sg")
    ]


def test_sites_that_need_no_approval_win_over_those_that_do() -> None:
    # without the allow-list bj may take the job: nothing is held, sg is excluded with why
    eng = engine(CROSS_BORDER, tenants={"fin": {"ciio": True}},
                 attributes={"p": JobAttributes(people=50_000)})  # fmt: skip
    clock = ManualClock()
    scheduler = Scheduler(eng.scenario, make_policy("greenest"), clock, rules=eng)
    scheduler.submit(gjob("p", tenant="fin", cls=Classification.PERSONAL, types=("T4",)))
    out = scheduler.cycle()
    assert not out.held and out.started[0].option.site == "bj"
    assert "other sites need no approval" in out.started[0].explanation.excluded["sg"]


def test_an_export_that_crosses_the_threshold_while_waiting_is_re_checked() -> None:
    # two exports of 600k people each, both allowed at intake (standard contract); once the
    # first has started the second would reach 1.2M people, which needs an assessment: the
    # admission re-check withdraws it and it is held instead of starting
    attrs = {f"e{i}": JobAttributes(people=600_000) for i in range(2)}
    eng = engine(CROSS_BORDER, ONLY_ABROAD, tenants={"fin": {"standardContract": "SC-1"}},
                 attributes=attrs)  # fmt: skip
    clock = ManualClock()
    scheduler = Scheduler(eng.scenario, make_policy("greenest"), clock, rules=eng)
    for i in range(2):
        scheduler.submit(gjob(f"e{i}", tenant="fin", cls=Classification.PERSONAL, types=("T4",)))
    out = scheduler.cycle()
    (started,) = out.started
    (held,) = out.held
    assert started.option.site == "sg" and held.job.id != started.job.id
    assert "1,200,000 people" in held.reasons["sg"]
    assert eng.exported("fin", eng.counters.year_of(0.0)) == (600_000, 0)


def test_a_job_withdrawn_while_it_waits_for_approval_is_no_longer_held() -> None:
    eng = governed()
    scheduler, clock = held_job(eng)
    scheduler.cycle()
    clock.set(2.0)
    assert scheduler.withdraw("p", "cancelled by its tenant")
    assert scheduler.pending_approval == {}
    assert not scheduler.withdraw("p", "again")
    out = scheduler.cycle()
    assert [(w.job_id, w.time_h, w.reason) for w in out.withdrawn] == [
        ("p", 2.0, "cancelled by its tenant")
    ]
    assert not out.started and not out.rejected and not out.held
    with pytest.raises(SchedulingError):
        scheduler.approve("p", "too late")

"""The approval book, the simulated regulator, the model registry and the power book."""

from __future__ import annotations

import pytest
from gov_builders import world

from suanli.errors import SchedulingError
from suanli.governance import (
    ApprovalBook,
    ApprovalError,
    ApprovalStatus,
    FiledModel,
    ModelRegistry,
    PowerBook,
    SimulatedRegulator,
)


def test_a_request_waits_until_approved_with_evidence() -> None:
    book = ApprovalBook()
    req = book.request("j1", "pi", "1,000,000 people", 2.0)
    assert (req.id, req.status) == ("apr-000001", ApprovalStatus.PENDING)
    assert book.request("j1", "pi", "again", 3.0) is req  # one request per (job, rule)
    assert book.pending() == [req]
    done = book.approve(req.id, "CAC-SA-2026-0007", 50.0)
    assert (done.status, done.evidence, done.decided_h) == (
        ApprovalStatus.APPROVED,
        "CAC-SA-2026-0007",
        50.0,
    )
    assert book.decision("j1", "pi") == done and book.pending() == []
    assert done.to_json() == {
        "request": "apr-000001",
        "job": "j1",
        "rule": "pi",
        "reason": "1,000,000 people",
        "requestedH": 2.0,
        "status": "approved",
        "decidedH": 50.0,
        "evidence": "CAC-SA-2026-0007",
    }


@pytest.mark.parametrize(
    ("act", "problem"),
    [
        pytest.param(lambda b, r: b.approve(r, "  ", 5.0), "an approval needs an evidence",
                     id="approval without evidence"),
        pytest.param(lambda b, r: b.approve("apr-999999", "x", 5.0), "no such approval request",
                     id="unknown request"),
        pytest.param(lambda b, r: (b.deny(r, "no", 5.0), b.approve(r, "x", 6.0)), "already denied",
                     id="decided twice"),
        pytest.param(lambda b, r: b.approve(r, "x", 0.5), "decided at 0.5 h, before it was",
                     id="decided before requested"),
    ],
)  # fmt: skip
def test_bad_decisions_are_approval_errors(act: object, problem: str) -> None:
    book = ApprovalBook()
    req = book.request("j1", "pi", "why", 1.0)
    with pytest.raises(ApprovalError) as info:
        act(book, req.id)  # type: ignore[operator]
    assert info.value.problem.startswith(problem)


@pytest.mark.parametrize(
    ("rule", "approve", "at"),
    [
        pytest.param("pi", True, 26.0, id="per-rule delay, approved"),
        pytest.param("other", True, 74.0, id="default delay"),
        pytest.param("banned", False, 74.0, id="denied rule"),
    ],
)
def test_the_simulated_regulator_decides_after_its_delay(
    rule: str, approve: bool, at: float
) -> None:
    book = ApprovalBook()
    reg = SimulatedRegulator(72.0, {"pi": 24.0}, deny=frozenset({"banned"}))
    req = book.request("j1", rule, "why", 2.0)
    d = reg.decide(req)
    assert (d.time_h, d.approve) == (at, approve)
    done = reg.apply(book, d)
    assert done.status is (ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED)


def test_the_registry_tells_why_a_model_may_not_serve() -> None:
    reg = ModelRegistry([FiledModel("base", "F-1"), FiledModel("ft", "", "base")])
    assert reg.filing_problem("base") is None
    assert reg.filing_problem("ft") == (
        "model 'ft' is fine-tuned from 'base' (filing F-1) but has no filing of its own"
    )
    assert reg.filing_problem("x") == "model 'x' is not filed"


def test_the_power_book_keeps_sites_under_their_caps() -> None:
    book = PowerBook(world(), {"bj": 1.0})
    assert book.fits("bj", 1.0) and not book.fits("bj", 1.01)
    book.commit("j1", "bj", 0.75)
    assert not book.fits("bj", 0.5) and book.headroom_mw("bj") == 0.25
    with pytest.raises(SchedulingError):
        book.commit("j1", "bj", 0.1)
    book.release("j1")
    assert book.fits("bj", 1.0)
    with pytest.raises(SchedulingError):
        book.release("j1")

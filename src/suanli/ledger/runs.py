"""The ledger of one simulated run: what the digital twin writes for `--ledger`.

Entries are appended in time order (ties: policy change, admission, approval requested,
approval decided, then placements and rejections in the order they happened): the policy set
taking effect at 0 h, every job's admission at its arrival, every approval request and
decision, every placement (with the costs of the sites it considered) and every rejection
(with every site's reason). A head is signed every ``head_every`` entries and at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from suanli.core.cost import CostModel
from suanli.core.scheduler import Placement, Rejection
from suanli.governance.approvals import ApprovalBook, ApprovalRequest
from suanli.ledger import events
from suanli.ledger.keys import SigningKey
from suanli.ledger.ledger import Ledger
from suanli.model import Job

#: (name, version, SHA-256 of the file) of the policy set a run was governed by
PolicyStamp = tuple[str, int, str]


def run_ledger(
    key: SigningKey,
    jobs: Sequence[Job],
    placements: Iterable[Placement],
    rejections: Iterable[Rejection],
    cost: CostModel,
    *,
    policy: PolicyStamp | None = None,
    approvals: ApprovalBook | None = None,
    head_every: int = 50_000,
) -> Ledger:
    """A signed ledger of one run (see the module docstring for what goes in)."""
    staged: list[tuple[float, int, int, events.Event]] = []

    def add(rank: int, event: events.Event) -> None:
        staged.append((event[1], rank, len(staged), event))

    if policy is not None:
        add(0, events.policy_change(policy[0], policy[1], policy[2], 0.0))
    for job in jobs:
        add(1, events.admission(job, job.arrival_h))
    for req in _requests(approvals):
        add(2, events.approval("approval-requested", req.requested_h, _as_requested(req)))
        if req.decided_h is not None:
            add(3, events.approval("approval-decided", req.decided_h, req.to_json()))
    for p in placements:
        add(4, events.placement(p, p.explanation.considered(cost, p.job)))
    for r in rejections:
        add(4, events.rejection(r))
    staged.sort(key=lambda s: s[:3])
    ledger = Ledger(key)
    for n, (_, _, _, (kind, time_h, data)) in enumerate(staged, start=1):
        ledger.append(kind, time_h, data)
        if n % head_every == 0:
            ledger.sign_head(f"t={time_h:g}h")
    last = staged[-1][0] if staged else 0.0
    if not ledger.heads or ledger.heads[-1].tree_size != len(ledger):
        ledger.sign_head(f"t={last:g}h")
    return ledger


def _requests(book: ApprovalBook | None) -> list[ApprovalRequest]:
    return [] if book is None else book.requests()


def _as_requested(req: ApprovalRequest) -> dict[str, Any]:
    """The request as it stood when it was made (pending, undecided)."""
    data = req.to_json()
    data.update(status="pending", decidedH=None, evidence="")
    return data

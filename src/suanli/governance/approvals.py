"""Approvals: a job whose placement needs a regulator's decision waits in PendingApproval.

`ApprovalBook` is the record: one request per (job, rule); a regulator approves it with an
evidence reference (the assessment's file number) or denies it with a reason; the engine
reads decisions back (`ApprovalBook.decision`). `SimulatedRegulator` decides requests after a
scenario-given delay, deterministically, for the digital twin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from suanli.errors import InputError


class ApprovalError(InputError):
    """An approval request that does not exist or was already decided."""


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    id: str
    job: str
    rule_id: str
    #: why approval is needed (the rule's message)
    reason: str
    requested_h: float
    status: ApprovalStatus = ApprovalStatus.PENDING
    decided_h: float | None = None
    #: approval: the evidence reference; denial: the regulator's reason
    evidence: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ledger's shape of a request (``approval-requested`` / ``approval-decided``)."""
        return {
            "request": self.id,
            "job": self.job,
            "rule": self.rule_id,
            "reason": self.reason,
            "requestedH": self.requested_h,
            "status": self.status.value,
            "decidedH": self.decided_h,
            "evidence": self.evidence,
        }


class ApprovalBook:
    """Every approval request and its decision."""

    def __init__(self) -> None:
        self._requests: dict[str, ApprovalRequest] = {}
        self._by_job_rule: dict[tuple[str, str], str] = {}

    def request(self, job: str, rule_id: str, reason: str, time_h: float) -> ApprovalRequest:
        """Open a request (or return the open or decided one for the same job and rule)."""
        existing = self._by_job_rule.get((job, rule_id))
        if existing is not None:
            return self._requests[existing]
        req = ApprovalRequest(f"apr-{len(self._requests) + 1:06d}", job, rule_id, reason, time_h)
        self._requests[req.id] = req
        self._by_job_rule[(job, rule_id)] = req.id
        return req

    def approve(self, request_id: str, evidence: str, time_h: float) -> ApprovalRequest:
        """Approve with ``evidence`` (e.g. the security assessment's reference)."""
        if not evidence.strip():
            raise ApprovalError(request_id, "an approval needs an evidence reference")
        return self._decide(request_id, ApprovalStatus.APPROVED, evidence, time_h)

    def deny(self, request_id: str, reason: str, time_h: float) -> ApprovalRequest:
        return self._decide(request_id, ApprovalStatus.DENIED, reason, time_h)

    def _decide(
        self, request_id: str, status: ApprovalStatus, evidence: str, time_h: float
    ) -> ApprovalRequest:
        req = self.get(request_id)
        if req.status is not ApprovalStatus.PENDING:
            raise ApprovalError(request_id, f"already {req.status.value}")
        if time_h < req.requested_h:
            raise ApprovalError(
                request_id,
                f"decided at {time_h:g} h, before it was requested at {req.requested_h:g} h",
            )
        done = replace(req, status=status, decided_h=time_h, evidence=evidence)
        self._requests[request_id] = done
        return done

    def get(self, request_id: str) -> ApprovalRequest:
        try:
            return self._requests[request_id]
        except KeyError:
            raise ApprovalError(request_id, "no such approval request") from None

    def decision(self, job: str, rule_id: str) -> ApprovalRequest | None:
        """The request for (job, rule), if one was made."""
        rid = self._by_job_rule.get((job, rule_id))
        return None if rid is None else self._requests[rid]

    def requests(self) -> list[ApprovalRequest]:
        """Every request, in the order they were made."""
        return list(self._requests.values())

    def pending(self) -> list[ApprovalRequest]:
        return [r for r in self._requests.values() if r.status is ApprovalStatus.PENDING]

    def __len__(self) -> int:
        return len(self._requests)


@dataclass(frozen=True, slots=True)
class Decision:
    request_id: str
    time_h: float
    approve: bool
    evidence: str


class SimulatedRegulator:
    """Decides each request ``delay_h`` hours after it was made (per rule, else the default):
    approves with a synthetic evidence reference, except for rules listed in ``deny``."""

    def __init__(
        self,
        default_delay_h: float = 72.0,
        delay_h: Mapping[str, float] | None = None,
        deny: frozenset[str] = frozenset(),
    ) -> None:
        if default_delay_h < 0 or any(d < 0 for d in (delay_h or {}).values()):
            raise ValueError("approval delays must be >= 0 hours")
        self.default_delay_h = default_delay_h
        self.delay_h = dict(delay_h or {})
        self.deny = deny

    def decide(self, req: ApprovalRequest) -> Decision:
        """When and how ``req`` will be decided (pure: the driver schedules the event)."""
        t = req.requested_h + self.delay_h.get(req.rule_id, self.default_delay_h)
        if req.rule_id in self.deny:
            return Decision(req.id, t, False, f"simulated denial of {req.rule_id}")
        return Decision(req.id, t, True, f"sim:{req.rule_id}:{req.id}")

    def apply(self, book: ApprovalBook, decision: Decision) -> ApprovalRequest:
        """Record ``decision`` in ``book``."""
        if decision.approve:
            return book.approve(decision.request_id, decision.evidence, decision.time_h)
        return book.deny(decision.request_id, decision.evidence, decision.time_h)

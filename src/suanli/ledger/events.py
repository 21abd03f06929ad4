"""What the scheduler writes to the ledger: one (kind, time, data) per event.

Each function turns a core object into the ``data`` of a `Ledger.append` call; the shapes are
stable (docs/ledger.md) because `suanli audit explain` and outside auditors read them. Times
are scenario hours; money is yuan rounded to 0.01.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from suanli.core.scheduler import Placement, Rejection
from suanli.model import Job

Event = tuple[str, float, dict[str, Any]]

KINDS = (
    "admission",
    "placement",
    "preemption",
    "rejection",
    "approval-requested",
    "approval-decided",
    "policy-change",
)


def admission(job: Job, time_h: float) -> Event:
    """A job entered the scheduler."""
    return (
        "admission",
        time_h,
        {
            "job": job.id,
            "tenant": job.tenant,
            "jobKind": job.kind.value,
            "accelerators": job.accelerators,
            "dataSite": job.data.site,
            "classification": job.data.classification.value,
        },
    )


def placement(p: Placement, considered: Mapping[str, float] | None = None) -> Event:
    """A job started: where, on what, why (policy, reason, excluded sites with reasons,
    considered sites with their estimated costs)."""
    return (
        "placement",
        p.start_h,
        {
            "job": p.job.id,
            "tenant": p.job.tenant,
            "site": p.option.site,
            "accelerator": p.option.accelerator,
            "startH": p.start_h,
            "endH": p.end_h,
            "costYuan": round(p.cost.total_yuan, 2),
            **_parts(p),
            "explanation": {
                "policy": p.explanation.policy,
                "reason": p.explanation.reason,
                "excluded": dict(p.explanation.excluded),
                "considered": dict(considered or {}),
            },
        },
    )


def _parts(p: Placement) -> dict[str, Any]:
    """A split gang's parts (site, pool, accelerators, cost); nothing for a whole placement,
    so the records of jobs that do not span sites are as before."""
    if not p.option.parts:
        return {}
    return {
        "parts": [
            {
                "site": part.site,
                "pool": part.pool,
                "accelerators": part.accelerators,
                "costYuan": round(c.total_yuan, 2),
            }
            for part, c in zip(p.option.parts, p.part_costs, strict=True)
        ]
    }


def rejection(r: Rejection) -> Event:
    """A job no site may take, with every site's reason."""
    return ("rejection", r.time_h, {"job": r.job.id, "tenant": r.job.tenant, "reasons": r.reasons})


def preemption(job_id: str, site: str, time_h: float, reason: str) -> Event:
    return ("preemption", time_h, {"job": job_id, "site": site, "reason": reason})


def approval(kind: str, time_h: float, record: Mapping[str, Any]) -> Event:
    """``approval-requested`` or ``approval-decided`` with an approval record's JSON."""
    if kind not in ("approval-requested", "approval-decided"):
        raise ValueError(f"not an approval event kind: {kind!r}")
    return (kind, time_h, dict(record))


def policy_change(name: str, version: int, digest: str, time_h: float) -> Event:
    """A policy set took effect; ``digest`` is the SHA-256 (hex) of its file."""
    return ("policy-change", time_h, {"policy": name, "version": version, "sha256": digest})

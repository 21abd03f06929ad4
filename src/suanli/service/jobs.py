"""Jobs between the wire and the core: ids, body hashes, and the one conversion to `model.Job`."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from suanli.core.queueing.quota import PREEMPTION_POLICIES
from suanli.model import Classification, DataAsset, Job, JobKind
from suanli.service.schemas import JobDocument

#: the key of a stored document that keeps the priority class a job named, as the class was
#: when the job was submitted (name, value, preemptionPolicy): a class changed or deleted
#: later does not change the job's priority, as with Kubernetes' PriorityClass
PRIORITY_CLASS = "priorityClass"


def new_job_id() -> str:
    return "j-" + secrets.token_hex(8)


def document_dict(doc: JobDocument) -> dict[str, Any]:
    """The stored form of a submitted document: its wire JSON (camelCase, defaults filled)."""
    return doc.model_dump(mode="json", by_alias=True)


def body_hash(stored: Mapping[Any, Any]) -> str:
    """What an idempotency key is bound to: the hash of the canonical document."""
    return hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest()


def hours_since(epoch: float, when: datetime) -> float:
    return (when.timestamp() - epoch) / 3600.0


def to_model_job(row: Mapping[Any, Any], epoch: float) -> Job:
    """A stored job as the scheduler's value type (times in hours since the epoch)."""
    spec = row["doc"]["spec"]
    data = spec["data"]
    deadline = spec.get("deadline")
    klass = row["doc"].get(PRIORITY_CLASS)
    return Job(
        id=row["id"],
        tenant=row["tenant"],
        kind=JobKind(spec["kind"]),
        accelerators=float(spec["accelerators"]["count"]),
        types=tuple(spec["accelerators"]["types"]),
        duration_h=float(spec["durationHours"]),
        arrival_h=float(row["arrival_h"]),
        data=DataAsset(data["site"], float(data["sizeGB"]), Classification(data["classification"])),
        deadline_h=hours_since(epoch, datetime.fromisoformat(deadline)) if deadline else None,
        latency_slo_ms=spec.get("latencySloMs"),
        users_site=spec.get("usersSite"),
        priority=int(spec.get("priority", 0)),
        # the class as it was when the job was submitted (`PRIORITY_CLASS`)
        priority_class=klass["name"] if klass else None,
        preempts=PREEMPTION_POLICIES[klass["preemptionPolicy"]] if klass else True,
    )

"""Stored rows as wire schemas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from suanli.service import schemas as w
from suanli.service.storage.repo import NETWORK_COHORT


def ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def job(row: Mapping[Any, Any]) -> w.Job:
    doc = row["doc"]
    meta = doc["metadata"]
    return w.Job(
        id=row["id"],
        metadata=w.JobMetadata(
            name=meta["name"], tenant=row["tenant"], labels=meta.get("labels") or {}
        ),
        spec=w.JobSpec.model_validate(doc["spec"]),
        status=w.JobStatus(
            state=w.JobState(row["state"]),
            reason=row["reason"] or "",
            submitted_at=ts(row["created_at"]),
            updated_at=ts(row["updated_at"]),
            site=row["site"],
            accelerator=row["accelerator"],
            start_hour=row["start_h"],
            planned_end_hour=row["end_h"],
            cost_yuan=row["cost_yuan"],
            explanation=row["explanation"],
        ),
    )


def priority_class(row: Mapping[Any, Any]) -> w.PriorityClass:
    return w.PriorityClass(
        name=row["name"],
        value=int(row["value"]),
        preemption_policy=w.PreemptionPolicy(row["preemption_policy"]),
        global_default=bool(row["global_default"]),
        description=row["description"] or "",
        created_at=ts(row["created_at"]),
    )


def queue_preemption(row: Mapping[Any, Any]) -> w.QueuePreemption:
    lost = row["lost_gpu_h"]
    return w.QueuePreemption(
        at=ts(row["at"]),
        job_id=row["job_id"],
        job_name=row["name"],
        tenant=row["tenant"],
        reason=row["reason"],
        lost_gpu_h=float(lost) if lost is not None else None,
    )


def event(row: Mapping[Any, Any]) -> w.JobEvent:
    return w.JobEvent(
        seq=row["seq"],
        at=ts(row["at"]),
        job_id=row["subject_id"],
        action=row["action"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        reason=row["reason"],
        actor=row["actor"],
    )


def pool(row: Mapping[Any, Any]) -> w.Pool:
    return w.Pool(
        index=row["idx"],
        accelerator=row["accelerator"],
        nodes=row["nodes"],
        per_node=row["per_node"],
        accelerators=row["nodes"] * row["per_node"],
    )


def series_summary(row: Mapping[Any, Any]) -> w.SeriesSummary:
    """An attached series (a ``site_series`` row) without its values."""
    start = float(row["start"])
    return w.SeriesSummary(
        start=ts(start),
        end=ts(start + int(row["hours"]) * 3600.0),
        hours=int(row["hours"]),
        source=row["source"],
        updated_at=ts(float(row["updated_at"])),
    )


def hourly_series(row: Mapping[Any, Any]) -> w.HourlySeries:
    return w.HourlySeries(
        **series_summary(row).model_dump(), values=[float(v) for v in row["hourly"]]
    )


def site_energy(site_id: str, rows: Mapping[str, Mapping[Any, Any]]) -> w.SiteEnergy:
    """The series attached to a site (``rows``: kind -> ``site_series`` row)."""
    return w.SiteEnergy(
        site=site_id,
        price_yuan_per_kwh=hourly_series(rows["price"]) if "price" in rows else None,
        carbon_kg_per_kwh=hourly_series(rows["carbon"]) if "carbon" in rows else None,
    )


def energy_summary(rows: Mapping[str, Mapping[Any, Any]]) -> w.SiteEnergySummary:
    return w.SiteEnergySummary(
        price_yuan_per_kwh=series_summary(rows["price"]) if "price" in rows else None,
        carbon_kg_per_kwh=series_summary(rows["carbon"]) if "carbon" in rows else None,
    )


def site(
    row: Mapping[Any, Any],
    pools: Sequence[Mapping[Any, Any]],
    down_since: float | None = None,
    series: Mapping[str, Mapping[Any, Any]] | None = None,
) -> w.Site:
    ps = [pool(p) for p in pools]
    return w.Site(
        id=row["id"],
        name=row["name"],
        hub=row["hub"],
        operator=row["operator"],
        jurisdiction=row["jurisdiction"],
        region=row["region"],
        lat=row["lat"],
        lon=row["lon"],
        pue=row["pue"],
        state=w.SiteState(row["state"]),
        health="down" if down_since is not None else "up",
        down_since=ts(down_since) if down_since is not None else None,
        accelerators=sum(p.accelerators for p in ps),
        pools=ps,
        energy=energy_summary(series or {}),
    )


def tenant(row: Mapping[Any, Any]) -> w.Tenant:
    return w.Tenant(
        id=row["id"],
        name=row["name"],
        sector=row["sector"],
        jurisdiction=row["jurisdiction"],
        weight=row["weight"],
        quota=dict(row["quota"] or {}),
        cohort=row["cohort"] or NETWORK_COHORT,
    )


def cohort(row: Mapping[Any, Any], tenants: Sequence[str]) -> w.Cohort:
    return w.Cohort(
        name=row["name"],
        parent=row["parent"],
        description=row["description"] or "",
        tenants=list(tenants),
        created_at=ts(row["created_at"]),
    )


def builtin_cohort(tenants: Sequence[str]) -> w.Cohort:
    return w.Cohort(
        name=NETWORK_COHORT,
        parent=None,
        description="built in: the cohort of every queue whose tenant names none",
        built_in=True,
        tenants=list(tenants),
    )


def audit_entry(row: Mapping[Any, Any]) -> w.AuditEntry:
    return w.AuditEntry(
        seq=row["ledger_seq"],
        at=ts(row["at"]),
        subject=row["subject"],
        subject_id=row["subject_id"],
        action=row["action"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        reason=row["reason"],
        actor=row["actor"],
        leaf_hash=row["digest"],
        tree_root=row["hash"],
    )


def approval(row: Mapping[Any, Any]) -> w.Approval:
    spec = row["doc"]["spec"]
    return w.Approval(
        job_id=row["id"],
        tenant=row["tenant"],
        name=row["name"],
        classification=spec["data"]["classification"],
        data_site=spec["data"]["site"],
        accelerators=spec["accelerators"]["count"],
        submitted_at=ts(row["created_at"]),
    )


def new_job_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The wire form of a job just submitted, built without re-validating its document."""
    doc = row["doc"]
    at = ts(row["created_at"]).isoformat().replace("+00:00", "Z")
    return {
        "id": row["id"],
        "apiVersion": "suanli/v1",
        "kind": "Job",
        "metadata": {
            "name": doc["metadata"]["name"],
            "tenant": row["tenant"],
            "labels": doc["metadata"].get("labels") or {},
        },
        "spec": doc["spec"],
        "status": {
            "state": row["state"],
            "reason": row["reason"],
            "submittedAt": at,
            "updatedAt": at,
            "site": None,
            "accelerator": None,
            "startHour": None,
            "plannedEndHour": None,
            "costYuan": None,
            "explanation": None,
        },
    }

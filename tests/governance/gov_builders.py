"""Builders for governance tests: a four-site world, policies from plain dicts, jobs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from builders import job, scenario, site
from suanli.governance.attributes import JobAttributes
from suanli.governance.engine import GovernanceEngine
from suanli.governance.schema import PolicySet, parse_policy
from suanli.model import Classification, Job, JobKind, Pool, Scenario, Sector, Tenant

CROSS_BORDER: dict[str, Any] = {
    "id": "pi",
    "kind": "crossBorderPersonalInfo",
    "from": ["CN"],
    "exemptBelowPeople": 100_000,
    "assessmentFromPeople": 1_000_000,
    "assessmentFromSensitivePeople": 10_000,
}


def world() -> Scenario:
    """bj and tj in hub north (CN), gz in hub south (CN), sg abroad (SG)."""
    pools = (Pool("A100", 1, 8), Pool("T4", 1, 8))
    sites = [
        replace(site("bj", pools=pools), hub="north"),
        replace(site("tj", pools=(Pool("A100", 1, 8),)), hub="north"),
        replace(site("gz", pools=(Pool("H800", 1, 8),), carbon=0.8), hub="south"),
        replace(site("sg", pools=pools, jurisdiction="SG"), hub="partner"),
    ]
    tenants = {
        "t1": Tenant("t1", "Research", Sector.RESEARCH_EDUCATION, "CN"),
        "fin": Tenant("fin", "Bank", Sector.FINANCE, "CN"),
        "health": Tenant("health", "Hospital", Sector.HEALTHCARE, "CN"),
        "gov": Tenant("gov", "City", Sector.PUBLIC_SERVICES, "CN"),
    }
    return replace(scenario(*sites), tenants=tenants)


def policy(
    *rules: dict[str, Any],
    tenants: dict[str, Any] | None = None,
    models: list[dict[str, Any]] | None = None,
) -> PolicySet:
    data = {
        "apiVersion": "suanli/v1",
        "kind": "PolicySet",
        "metadata": {"name": "test", "version": 1},
        "spec": {"rules": list(rules), "tenants": tenants or {}, "models": models or []},
    }
    return parse_policy(data, Path("test.yaml"))


def engine(
    *rules: dict[str, Any],
    tenants: dict[str, Any] | None = None,
    models: list[dict[str, Any]] | None = None,
    attributes: dict[str, JobAttributes] | None = None,
) -> GovernanceEngine:
    return GovernanceEngine(
        policy(*rules, tenants=tenants, models=models), world(), attributes=attributes
    )


def gjob(
    jid: str = "j1",
    *,
    tenant: str = "t1",
    home: str = "bj",
    cls: Classification = Classification.GENERAL,
    kind: JobKind = JobKind.TRAIN,
    arrival: float = 0.0,
    gpus: float = 1.0,
    types: tuple[str, ...] = ("A100", "H800", "T4"),
    users: str | None = None,
) -> Job:
    return job(
        jid,
        home=home,
        classification=cls,
        kind=kind,
        arrival=arrival,
        gpus=gpus,
        types=types,
        users=users,
    ).copy(tenant=tenant)

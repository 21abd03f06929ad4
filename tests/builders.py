"""Builders for small, exact scenarios and jobs used across the tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np

from suanli.model import (
    AcceleratorCatalog,
    AcceleratorType,
    Classification,
    DataAsset,
    Figure,
    Job,
    JobKind,
    Link,
    Pool,
    Scenario,
    Sector,
    Site,
    Tenant,
)
from suanli.model.network import CostParameters


def _fig(v: float) -> Figure:
    return Figure(v, "estimated", "test")


def catalog() -> AcceleratorCatalog:
    """A100 is the reference; H800 twice as fast at training; T4 slow but frugal."""
    return AcceleratorCatalog(
        {
            "A100": AcceleratorType("A100", "NVIDIA", False, _fig(80), _fig(0.4), _fig(1), _fig(1)),
            "H800": AcceleratorType("H800", "NVIDIA", False, _fig(80), _fig(0.7), _fig(2), _fig(2)),
            "T4": AcceleratorType(
                "T4", "NVIDIA", False, _fig(16), _fig(0.1), _fig(0.25), _fig(0.5)
            ),
        },
        reference="A100",
    )


def site(
    sid: str,
    *,
    price: float | list[float] = 0.5,
    carbon: float | list[float] = 0.5,
    pools: tuple[Pool, ...] = (Pool("A100", 1, 8),),
    jurisdiction: str = "CN",
    lat: float = 30.0,
    lon: float = 110.0,
    pue: float = 1.0,
    hours: int = 48,
) -> Site:
    def series(v: float | list[float]) -> np.ndarray:
        if isinstance(v, list):
            return np.resize(np.array(v, dtype=np.float64), hours)
        return np.full(hours, float(v))

    return Site(
        id=sid,
        name=sid.title(),
        hub="test-hub",
        operator="test-operator",
        jurisdiction=jurisdiction,
        region="test-region",
        lat=lat,
        lon=lon,
        pue=pue,
        power_cap_mw=10.0,
        price=series(price),
        carbon=series(carbon),
        pools=pools,
    )


def scenario(
    *sites: Site,
    hours: int = 48,
    carbon_price: float = 100.0,
    penalty: float = 20.0,
    latency_price: float = 0.02,
    link_price: float = 0.1,
    bandwidth_gbps: float = 8.0,
    latency_ms: float = 10.0,
) -> Scenario:
    """Sites joined by identical links (``latency_ms`` one-way, ``bandwidth_gbps``)."""
    links = {}
    for a in sites:
        for b in sites:
            same = a.id == b.id
            links[(a.id, b.id)] = Link(
                a.id, b.id, 0.5 if same else latency_ms, bandwidth_gbps, 0.0 if same else link_price
            )
    tenants = {
        "t1": Tenant("t1", "Tenant One", Sector.RESEARCH_EDUCATION, "CN"),
    }
    return Scenario(
        name="tiny",
        start=datetime(2023, 6, 5, tzinfo=UTC),
        hours=hours,
        catalog=catalog(),
        sites={s.id: s for s in sites},
        links=links,
        tenants=tenants,
        costs=CostParameters(
            carbon_price_yuan_per_t=carbon_price,
            deadline_penalty_yuan_per_gpu_h=penalty,
            latency_yuan_per_gpu_h_ms=latency_price,
        ),
    )


def job(
    jid: str,
    *,
    arrival: float = 0.0,
    duration: float = 1.0,
    gpus: float = 1.0,
    types: tuple[str, ...] = ("A100", "H800", "T4"),
    kind: JobKind = JobKind.TRAIN,
    home: str = "a",
    size_gb: float = 0.0,
    classification: Classification = Classification.GENERAL,
    deadline: float | None = None,
    slo_ms: float | None = None,
    users: str | None = None,
) -> Job:
    return Job(
        id=jid,
        tenant="t1",
        kind=kind,
        accelerators=gpus,
        types=types,
        duration_h=duration,
        arrival_h=arrival,
        data=DataAsset(home, size_gb, classification),
        deadline_h=deadline,
        latency_slo_ms=slo_ms,
        users_site=users,
    )


def tenants(s: Scenario, quotas: dict[str, int]) -> Scenario:
    """``s`` with one research tenant per entry, each with that many A100 of nominal quota."""
    ts = {
        t: Tenant(t, t.upper(), Sector.RESEARCH_EDUCATION, "CN", quota={"A100": q})
        for t, q in quotas.items()
    }
    return dataclasses.replace(s, tenants=ts)

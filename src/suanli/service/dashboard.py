"""What the operations dashboard shows that the rest of the API does not: the network now
(load, price and carbon per site, links), a site's hourly curves, tenants' shares and usage,
the queueing configuration (policy, flavor scope, limits, priority classes) and preemptions.

The arithmetic is in plain functions over job rows (`hold`, `hourly_load`, `fragmentation`),
the database reads in `DashboardReader`; the routes (``/v1/network``, ``/v1/sites/{id}/series``,
``/v1/queues``) check roles like every other route. The web pages themselves are static files
(`suanli.web`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, or_, select

from suanli.core.policies import is_queueing
from suanli.model import Scenario
from suanli.service import schemas as w
from suanli.service import views
from suanli.service.app import Service
from suanli.service.routes import ERRORS, OP, REG, TEN, SiteId, Svc, Who, allow, not_found
from suanli.service.storage.repo import JOBS, NETWORK_COHORT
from suanli.service.topology import build_scenario
from suanli.service.views import ts

#: states in which a job holds (or will hold) capacity at its site
HOLDING = ("admitted", "running")
#: the newest preemptions `queue_overview` lists (it says how many there are in all)
PREEMPTIONS_SHOWN = 20
#: states of jobs that were placed at some time (their load shows on the curves)
PLACED = ("admitted", "running", "succeeded", "failed", "cancelled", "preempted")

#: what `hold` reads of a job row (the count from inside the document, not the document)
HOLD_COLUMNS = [
    *(
        JOBS.c[name]
        for name in ("site", "pool", "tenant", "accelerator", "state", "start_h", "end_h")
    ),
    JOBS.c.updated_at,
    JOBS.c.doc[("spec", "accelerators", "count")].as_float().label("count"),
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class Hold:
    """A placed job's claim on a site: ``count`` accelerators of pool ``pool`` over
    ``[start_h, end_h)`` (scheduler hours)."""

    site: str
    pool: int
    tenant: str
    accelerator: str
    count: float
    start_h: float
    end_h: float


def hold(row: Mapping[Any, Any], epoch: float, now_h: float) -> Hold | None:
    """The claim of a job row, or None if it never had a place and a start. A job that ended
    holds until it ended (its last update), not until its planned end; a running job holds
    at least until now, even past its planned end."""
    if row["site"] is None or row["start_h"] is None:
        return None
    end = float(row["end_h"] if row["end_h"] is not None else row["start_h"])
    if row["state"] == "running":
        end = max(end, now_h)
    elif row["state"] not in HOLDING:
        end = min(end, (float(row["updated_at"]) - epoch) / 3600.0)
    return Hold(
        site=str(row["site"]),
        pool=int(row["pool"] or 0),
        tenant=str(row["tenant"]),
        accelerator=str(row["accelerator"] or ""),
        count=float(row["count"]),
        start_h=float(row["start_h"]),
        end_h=end,
    )


def in_use_now(holds: Iterable[Hold], now_h: float) -> list[Hold]:
    """The claims that hold capacity at ``now_h``."""
    return [h for h in holds if h.start_h <= now_h < h.end_h]


def series_at(series: Sequence[float] | FloatArray, hours: Sequence[int]) -> list[float]:
    """Values of an hourly series at whole hours; past its end its last day repeats (as in
    `suanli.core.cost`)."""
    n = len(series)
    day = min(24, n)
    out = []
    for h in hours:
        i = h if h < n else n - day + (h - n) % day
        out.append(float(series[max(i, 0)]))
    return out


def hourly_load(holds: Sequence[Hold], start: int, hours: int, pools: int) -> FloatArray:
    """Mean accelerators held per pool in each hour ``[start + k, start + k + 1)``:
    an array of shape (pools, hours)."""
    load = np.zeros((max(pools, 1), hours))
    if not holds:
        return load
    lo = np.array([h.start_h for h in holds])[:, None]
    hi = np.array([h.end_h for h in holds])[:, None]
    edges = np.arange(start, start + hours, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(hi, edges + 1) - np.maximum(lo, edges), 0.0, 1.0)
    weighted = overlap * np.array([h.count for h in holds])[:, None]
    idx = np.array([min(h.pool, pools - 1) for h in holds])
    np.add.at(load, idx, weighted)
    return load


def fragmentation(pools: Sequence[tuple[int, int]], load: FloatArray) -> FloatArray:
    """Per hour, the share of a site's free accelerators that are not on a wholly free node,
    with each pool's load packed onto as few of its ``(nodes, per_node)`` nodes as possible.

    The service does not record which nodes a job holds, so this is the best case: a lower
    bound on the node-level fragmentation (0 when the site is idle or each pool's load fills
    whole nodes).
    """
    nodes = np.array([n for n, _ in pools], dtype=np.float64)[:, None]
    per = np.array([k for _, k in pools], dtype=np.float64)[:, None]
    busy_nodes = np.minimum(np.ceil(load / per - 1e-9), nodes)
    whole = (nodes - busy_nodes) * per
    free = np.clip(nodes * per - load, 0.0, None).sum(axis=0)
    stranded = free - whole.sum(axis=0)
    out: FloatArray = np.where(free > 0, stranded / np.where(free > 0, free, 1.0), 0.0)
    return np.clip(out, 0.0, 1.0)


class DashboardReader:
    """Read-only queries of the dashboard, on the service's database."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.store = svc.store
        self.epoch = svc.loop.epoch

    def scenario(self) -> Scenario:
        """The base scenario with the database's sites, pools and tenants (cached 1 s)."""
        store = self.store
        built: Scenario = self.svc._cached(
            "dashboard-scenario",
            lambda: build_scenario(
                self.svc.scenario,
                store.sites(),
                store.pools(),
                store.tenants(),
                store.site_series(),
                self.epoch,
            ),
        )
        return built

    def holds(self, states: Sequence[str], site: str | None = None) -> list[Hold]:
        q = select(*HOLD_COLUMNS).where(JOBS.c.state.in_(list(states)), JOBS.c.start_h.is_not(None))
        if site is not None:
            q = q.where(JOBS.c.site == site)
        with self.store.engine.connect() as conn:
            rows = list(conn.execute(q).mappings())
        now = self.svc.loop.clock.now()
        return [h for h in (hold(r, self.epoch, now) for r in rows) if h is not None]

    def recent_holds(self, site: str, since_h: float) -> list[Hold]:
        """Claims at ``site`` that may overlap hours after ``since_h``."""
        q = select(*HOLD_COLUMNS).where(
            JOBS.c.site == site,
            JOBS.c.state.in_(PLACED),
            JOBS.c.start_h.is_not(None),
            or_(JOBS.c.end_h.is_(None), JOBS.c.end_h > since_h, JOBS.c.state == "running"),
        )
        with self.store.engine.connect() as conn:
            rows = list(conn.execute(q).mappings())
        now = self.svc.loop.clock.now()
        return [h for h in (hold(r, self.epoch, now) for r in rows) if h is not None]

    def state_counts(self, tenant: str | None) -> dict[tuple[str, str], int]:
        q = select(JOBS.c.tenant, JOBS.c.state, func.count()).group_by(JOBS.c.tenant, JOBS.c.state)
        if tenant is not None:
            q = q.where(JOBS.c.tenant == tenant)
        with self.store.engine.connect() as conn:
            return {(str(t), str(s)): int(n) for t, s, n in conn.execute(q)}


def network_now(svc: Service) -> w.NetworkNow:
    reader = DashboardReader(svc)
    scn = reader.scenario()
    now = svc.loop.clock.now()
    hour = [max(0, math.floor(now))]
    holds = reader.holds(HOLDING)
    used: dict[str, float] = {}
    for h in in_use_now(holds, now):
        used[h.site] = used.get(h.site, 0.0) + h.count
    planned: dict[str, int] = {}
    for h in holds:
        if h.start_h > now:
            planned[h.site] = planned.get(h.site, 0) + 1
    sites = []
    for row in svc.store.sites():
        site = scn.sites.get(row["id"])
        if site is None:  # registered by another replica within the last second
            continue
        total = site.accelerators
        sites.append(
            w.SiteNow(
                id=site.id,
                name=site.name,
                hub=site.hub,
                jurisdiction=site.jurisdiction,
                lat=site.lat,
                lon=site.lon,
                state=w.SiteState(row["state"]),
                accelerators=total,
                in_use=used.get(site.id, 0.0),
                utilization=used.get(site.id, 0.0) / total if total else 0.0,
                planned=planned.get(site.id, 0),
                price_yuan_per_kwh=series_at(site.price, hour)[0],
                carbon_kg_per_kwh=series_at(site.carbon, hour)[0],
            )
        )
    links = [
        w.LinkNow(src=a, dst=b, latency_ms=link.latency_ms, bandwidth_gbps=link.bandwidth_gbps)
        for (a, b), link in sorted(scn.links.items())
        if a < b
    ]
    return w.NetworkNow(hour=now, at=ts(reader.epoch + now * 3600), sites=sites, links=links)


def site_series(svc: Service, site_id: str, before: int, after: int) -> w.SiteSeries:
    reader = DashboardReader(svc)
    site = reader.scenario().sites.get(site_id)
    if site is None:
        raise not_found("site", site_id)
    now = svc.loop.clock.now()
    start = max(0, math.floor(now) - before)
    hours = list(range(start, math.floor(now) + after))
    holds = reader.recent_holds(site_id, start)
    shapes = [(p.nodes, p.per_node) for p in site.pools] or [(0, 1)]
    capacity = [n * k for n, k in shapes]
    load = hourly_load(holds, start, len(hours), len(capacity))
    total = float(sum(capacity))
    per_hour = load.sum(axis=0)
    current = in_use_now(holds, now)
    pools = [
        w.PoolUse(
            index=i,
            accelerator=p.accelerator,
            accelerators=p.accelerators,
            in_use=sum(h.count for h in current if h.pool == i),
        )
        for i, p in enumerate(site.pools)
    ]
    return w.SiteSeries(
        site=site_id,
        now_hour=now,
        hours=[float(h) for h in hours],
        price_yuan_per_kwh=series_at(site.price, hours),
        carbon_kg_per_kwh=series_at(site.carbon, hours),
        load=[float(x) for x in per_hour],
        utilization=[float(x) / total if total else 0.0 for x in per_hour],
        fragmentation=[float(x) for x in fragmentation(shapes, load)],
        pools=pools,
        **energy_sources(svc, site_id),
    )


def energy_sources(svc: Service, site_id: str) -> dict[str, str]:
    """Where a site's price and carbon figures come from, as the site page says it
    (``price_source``, ``carbon_source``)."""
    attached = svc.store.site_series(site_id, values=False).get(site_id, {})
    out = {}
    for kind in ("price", "carbon"):
        row = attached.get(kind)
        if row is not None:
            said = f"{row['source']} (hourly series attached, {int(row['hours'])} h)"
        elif site_id in svc.scenario.sites:
            said = f"the scenario's series ({svc.scenario.name})"
        else:
            said = "flat figure given at registration (no series attached)"
        out[f"{kind}_source"] = said
    return out


def queue_overview(svc: Service, tenant: str | None) -> w.QueueOverview:
    """The queueing configuration (policy, flavor scope, priority classes), every tenant's
    share, quota, limits, usage and job counts, and the newest preemptions (a tenant: only
    its own row and its own jobs' preemptions)."""
    reader = DashboardReader(svc)
    counts = reader.state_counts(tenant)
    use, by_flavor = _in_use(svc, reader)
    rows = svc.store.tenants()
    weights = sum(float(r["weight"]) for r in rows) or 1.0
    tenants = [
        _tenant_use(r, weights, use.get(r["id"], {}), by_flavor.get(r["id"], {}), counts)
        for r in rows
        if tenant is None or r["id"] == tenant
    ]
    states: dict[str, int] = {}
    for (_t, s), n in counts.items():
        states[s] = states.get(s, 0) + n
    preempted, total = svc.store.preemptions(PREEMPTIONS_SHOWN, tenant)
    return w.QueueOverview(
        states=states,
        tenants=tenants,
        policy=svc.config.policy,
        queueing=is_queueing(svc.config.policy),
        flavor_scope=svc.config.flavor_scope,
        priority_classes=[views.priority_class(r) for r in svc.store.priority_classes()],
        cohorts=_cohorts(svc, rows, tenant),
        preemptions=[views.queue_preemption(r) for r in preempted],
        preemptions_total=total,
    )


def _cohorts(svc: Service, rows: Sequence[Mapping[Any, Any]], tenant: str | None) -> list[w.Cohort]:
    """Every cohort with the tenants in it (a tenant: its own queue's, with only itself)."""
    members: dict[str, list[str]] = {}
    for r in rows:
        if tenant is None or r["id"] == tenant:
            members.setdefault(r["cohort"] or NETWORK_COHORT, []).append(r["id"])
    out = [views.builtin_cohort(members.get(NETWORK_COHORT, []))]
    out += [views.cohort(c, members.get(c["name"], [])) for c in svc.store.cohorts()]
    return out if tenant is None else [c for c in out if c.tenants]


def _in_use(
    svc: Service, reader: DashboardReader
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Accelerators each tenant holds now, per type and per flavor of the service's scope
    (``TYPE@HUB``, ``TYPE@SITE``: what the quota's keys name)."""
    use: dict[str, dict[str, float]] = {}
    by_flavor: dict[str, dict[str, float]] = {}
    places, _ = svc.flavor_places()
    for h in in_use_now(reader.holds(HOLDING), svc.loop.clock.now()):
        per = use.setdefault(h.tenant, {})
        per[h.accelerator] = per.get(h.accelerator, 0.0) + h.count
        flavor = f"{h.accelerator}@{places[h.site]}" if h.site in places else h.accelerator
        mine = by_flavor.setdefault(h.tenant, {})
        mine[flavor] = mine.get(flavor, 0.0) + h.count
    return use, by_flavor


def _tenant_use(
    r: Mapping[Any, Any],
    weights: float,
    held: dict[str, float],
    by_flavor: dict[str, float],
    counts: Mapping[tuple[str, str], int],
) -> w.TenantUse:
    quota = {str(k): int(v) for k, v in (r["quota"] or {}).items()}
    limits = r["limits"] or {}
    return w.TenantUse(
        id=r["id"],
        name=r["name"],
        sector=r["sector"],
        weight=float(r["weight"]),
        share=float(r["weight"]) / weights,
        quota=quota,
        in_use=held,
        borrowing=sum(max(0.0, n - quota.get(f, 0)) for f, n in by_flavor.items()),
        states={s: n for (t, s), n in counts.items() if t == r["id"]},
        borrowing_limit={str(k): int(v) for k, v in (limits.get("borrowing") or {}).items()},
        lending_limit={str(k): int(v) for k, v in (limits.get("lending") or {}).items()},
        cohort=r["cohort"] or NETWORK_COHORT,
    )


router = APIRouter(prefix="/v1", responses=ERRORS, tags=["dashboard"])


@router.get("/me", response_model=w.Me, dependencies=[Depends(allow(OP, TEN, REG))])
def get_me(who: Who) -> w.Me:
    """The caller's role (and tenant): what the dashboard shows depends on it."""
    return w.Me(role=who.role, tenant=who.tenant)


@router.get("/network", response_model=w.NetworkNow, dependencies=[Depends(allow(OP, TEN, REG))])
def get_network(svc: Svc, who: Who) -> w.NetworkNow:
    """Every site now (capacity, accelerators in use, price and carbon this hour) and the
    links between them (one-way latency)."""
    who.require(OP, TEN, REG)
    return network_now(svc)


@router.get(
    "/sites/{site_id}/series",
    response_model=w.SiteSeries,
    dependencies=[Depends(allow(OP, TEN, REG))],
)
def get_site_series(
    site_id: SiteId,
    svc: Svc,
    who: Who,
    before: Annotated[int, Query(ge=0, le=24 * 14)] = 24,
    after: Annotated[int, Query(ge=1, le=24 * 14)] = 24,
) -> w.SiteSeries:
    """Hourly price, carbon, load, utilization and fragmentation, ``before`` hours back and
    ``after`` hours ahead (planned placements show as load ahead)."""
    who.require(OP, TEN, REG)
    return site_series(svc, site_id, before, after)


@router.get("/queues", response_model=w.QueueOverview, dependencies=[Depends(allow(OP, TEN))])
def get_queues(svc: Svc, who: Who) -> w.QueueOverview:
    """The queueing policy and flavor scope, the priority classes, tenants' shares (weight /
    all weights), quotas, borrowing and lending limits, accelerators in use and borrowed, their
    jobs per state, and the newest preemptions; a tenant sees only itself and its own jobs."""
    who.require(OP, TEN)
    return queue_overview(svc, who.tenant if who.role is TEN else None)

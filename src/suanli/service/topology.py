"""The service's world: its epoch clock, and the scenario rebuilt from the database.

**Epoch.** The service's time axis starts at its first start, stored in the database (meta
``epoch``): hour ``h`` of the scheduler is ``epoch + h * 3600`` in Unix seconds. Hour 0 is
mapped onto hour 0 of the scenario's price and carbon series; past their end the last day
repeats (`suanli.core.cost`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from suanli.core.rules import INTERIM_RULES, RuleResult, Verdict
from suanli.model import Job, Link, Pool, Scenario, Sector, Site, Tenant
from suanli.model.network import default_latency_ms

#: (bandwidth Gbit/s, yuan per GB) of links to a registered site, by class of pair
SAME_SITE = (400.0, 0.0)
DOMESTIC = (100.0, 0.14)
INTERNATIONAL = (10.0, 0.57)


class ServiceClock:
    """Hours since the service's epoch, on the wall clock."""

    def __init__(self, epoch: float) -> None:
        self.epoch = epoch

    def now(self) -> float:
        return (time.time() - self.epoch) / 3600.0


class ServiceRules:
    """The interim rules, plus: a draining site, a site marked down and a site without a
    backend take no new work."""

    def __init__(
        self,
        draining: set[str],
        down: Container[str] = frozenset(),
        dispatchable: Callable[[str], bool] | None = None,
    ) -> None:
        self.draining = draining
        self.down = down
        self.dispatchable = dispatchable

    def check(self, job: Job, site: Site, scenario: Scenario) -> RuleResult:
        if site.id in self.draining:
            return RuleResult(Verdict.DENY, "drain", "the site is draining")
        if site.id in self.down:
            return RuleResult(
                Verdict.DENY, "down", "the site is down (its cluster does not answer)"
            )
        if self.dispatchable is not None and not self.dispatchable(site.id):
            return RuleResult(Verdict.DENY, "backend", "no backend is configured for the site")
        return INTERIM_RULES.check(job, site, scenario)


def build_scenario(
    base: Scenario,
    sites: Sequence[Mapping[Any, Any]],
    pools: Sequence[Mapping[Any, Any]],
    tenants: Sequence[Mapping[Any, Any]],
) -> Scenario:
    """The base scenario with the database's sites, pools and tenants."""
    by_site: dict[str, list[Pool]] = {}
    for p in pools:
        by_site.setdefault(p["site_id"], []).append(
            Pool(p["accelerator"], int(p["nodes"]), int(p["per_node"]))
        )
    built: dict[str, Site] = {}
    for row in sites:
        sid = row["id"]
        site_pools = tuple(by_site.get(sid, ()))
        if sid in base.sites:
            built[sid] = replace(base.sites[sid], pools=site_pools)
            continue
        flat = np.full(24, float(row["price"] or 0.0))
        built[sid] = Site(
            id=sid,
            name=row["name"],
            hub=row["hub"],
            operator=row["operator"],
            jurisdiction=row["jurisdiction"],
            region=row["region"],
            lat=float(row["lat"]),
            lon=float(row["lon"]),
            pue=float(row["pue"]),
            power_cap_mw=float(row["power_cap_mw"]),
            price=flat,
            carbon=np.full(24, float(row["carbon"] or 0.0)),
            pools=site_pools,
        )
    links: dict[tuple[str, str], Link] = {}
    for a in built.values():
        for b in built.values():
            if (a.id, b.id) in base.links:
                links[(a.id, b.id)] = base.links[(a.id, b.id)]
                continue
            if a.id == b.id:
                bw, price = SAME_SITE
            elif a.jurisdiction == b.jurisdiction:
                bw, price = DOMESTIC
            else:
                bw, price = INTERNATIONAL
            links[(a.id, b.id)] = Link(a.id, b.id, default_latency_ms(a, b), bw, price)
    tenant_map = {
        t["id"]: Tenant(
            t["id"],
            t["name"],
            Sector(t["sector"]),
            t["jurisdiction"],
            float(t["weight"]),
            dict(t["quota"]),
        )
        for t in tenants
    }
    return replace(base, sites=built, links=links, tenants=tenant_map)


def restrict_pools(scenario: Scenario, served: Mapping[str, frozenset[str]]) -> Scenario:
    """The scenario with each listed site's pools cut to the accelerator types its cluster
    really has (a backend's ``accelerators``); other sites keep theirs."""
    if not served:
        return scenario
    sites = {
        sid: replace(site, pools=tuple(p for p in site.pools if p.accelerator in served[sid]))
        if sid in served
        else site
        for sid, site in scenario.sites.items()
    }
    return replace(scenario, sites=sites)

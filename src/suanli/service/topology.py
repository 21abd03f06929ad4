"""The service's world: its epoch clock, and the scenario rebuilt from the database.

**Epoch.** The service's time axis starts at its first start, stored in the database (meta
``epoch``): hour ``h`` of the scheduler is ``epoch + h * 3600`` in Unix seconds. Hour 0 is
mapped onto hour 0 of the scenario's price and carbon series; past their end the last day
repeats (`suanli.core.cost`).

**Attached series.** A series attached to a site (``PUT /v1/sites/{id}/energy``, stored in
``site_series``) is on the wall clock instead: its value ``i`` holds for the UTC hour that
begins ``start + i * 3600``. `on_service_hours` maps it onto the scheduler's hours by the
epoch (an hour of the scheduler that straddles two of the series' hours gets the mean of the
two, weighted by the overlap); before its start the site's fallback holds (its flat figure, or
a scenario site's own series), and past its end its last day repeats, in step with the clock.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from suanli.core.cost import extend_series
from suanli.core.queueing import ClusterQueue, Cohort, FlavorQuota, QueueingConfig
from suanli.core.queueing.quota import PREEMPTION_POLICIES, SCOPES, PriorityClass
from suanli.core.rules import INTERIM_RULES, RuleResult, Verdict
from suanli.errors import InputError
from suanli.model import Job, Link, Pool, Scenario, Sector, Site, Tenant
from suanli.model.network import FloatArray, default_latency_ms
from suanli.service.storage.repo import NETWORK_COHORT, cohort_cycle

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


def _periodic_tail(series: FloatArray, index: npt.NDArray[np.int64]) -> FloatArray:
    """``series`` at each ``index`` >= 0, its last whole day repeating past its end
    (`suanli.core.cost.extend_series`, the cost model's rule)."""
    return extend_series(series, int(index.max(initial=0)) + 1)[index]


def on_service_hours(
    start_s: float, values: Sequence[float], epoch: float, fallback: FloatArray
) -> FloatArray:
    """An attached series (``values[i]`` for the UTC hour from ``start_s + i * 3600``, Unix
    seconds) on the scheduler's hours (hour ``h`` from ``epoch + h * 3600``).

    Before ``start_s`` the value is ``fallback``'s at that scheduler hour (past ``fallback``'s
    end its last day repeats); past the series' end, its last day repeats in step with the
    clock. The result reaches one whole day into that repetition, so the cost model, which
    repeats the last 24 values past the end of an array, continues it unchanged."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        raise InputError("series", "no values")
    offset = (epoch - start_s) / 3600.0  # the series' index at scheduler hour 0
    length = max(24, math.ceil(len(v) - offset) + 24)
    hours = np.arange(length, dtype=np.float64)
    x = hours + offset
    k = np.floor(x).astype(np.int64)
    weight = x - k  # share of scheduler hour h that falls in series hour k + 1
    back = _periodic_tail(np.asarray(fallback, dtype=np.float64), hours.astype(np.int64))

    def at(index: npt.NDArray[np.int64]) -> FloatArray:
        return np.where(index < 0, back, _periodic_tail(v, np.maximum(index, 0)))

    out: FloatArray = (1.0 - weight) * at(k) + weight * at(k + 1)
    out.setflags(write=False)
    return out


def build_scenario(
    base: Scenario,
    sites: Sequence[Mapping[Any, Any]],
    pools: Sequence[Mapping[Any, Any]],
    tenants: Sequence[Mapping[Any, Any]],
    series: Mapping[str, Mapping[str, Mapping[Any, Any]]] | None = None,
    epoch: float = 0.0,
) -> Scenario:
    """The base scenario with the database's sites, pools and tenants; ``series`` (site ->
    ``price``/``carbon`` -> a ``site_series`` row, `Store.site_series`) replace the flat or
    scenario figures of their sites, mapped onto the scheduler's hours by ``epoch``
    (`on_service_hours`)."""
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
    for sid, attached in (series or {}).items():
        if sid not in built:
            continue  # a row of a site not (or no longer) registered
        site = built[sid]
        hourly = {"price": site.price, "carbon": site.carbon}
        for kind, r in attached.items():
            if kind in hourly:
                hourly[kind] = on_service_hours(float(r["start"]), r["hourly"], epoch, hourly[kind])
        built[sid] = replace(site, price=hourly["price"], carbon=hourly["carbon"])
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


#: the built-in cohort: the queue of every tenant that names no cohort is in it
COHORT = NETWORK_COHORT


def flavor_places(scenario: Scenario, scope: str) -> dict[str, str]:
    """Site id -> the hub or site its flavors are named after (empty in the network scope)."""
    if scope == "network":
        return {}
    return {sid: site.hub if scope == "hub" else sid for sid, site in scenario.sites.items()}


def build_queueing(
    scenario: Scenario,
    tenants: Sequence[Mapping[Any, Any]],
    scope: str = "network",
    classes: Sequence[Mapping[Any, Any]] = (),
    cohorts: Sequence[Mapping[Any, Any]] = (),
) -> tuple[QueueingConfig, list[str]]:
    """The queueing policies' configuration from the database (docs/service.md, "Queueing"):
    one queue per tenant, named after it, with its stored quota as nominal quota per flavor
    (``TYPE``, or ``TYPE@HUB``/``TYPE@SITE`` in those scopes), its stored borrowing and
    lending limits per flavor (a flavor without one: unbounded) and its weight; a tenant
    without a quota gets a weight-proportional share of every flavor, as in the simulator
    (`suanli.core.policies.queueing.default_config`). A queue is in its tenant's cohort (the
    stored ``cohorts``, each with an optional parent) or, naming none, in the built-in cohort
    ``network``: idle quota is used by the other queues of its cohort (of its top cohort: the
    core accounts nested cohorts at their root) and its owner takes it back (the policy's
    reclaim), within those limits; no quota is lent across cohorts.

    A stored key that is not a flavor of ``scope`` (``A100`` in the site scope: the scenario
    seeds per-type quotas) is left out, and one line per tenant with such keys is returned with
    the configuration (the service logs them); a tenant left with no key counts as one without a
    quota. The API accepts only keys of the scope, so setting the quota again fixes it.

    The API keeps cohorts whole (no unknown parent, no cycle, no tenant in a cohort not
    defined); a stored row that breaks that anyway (a race between replicas) is not fatal: the
    parent or the cohort is left out, with a line returned, and the queue is in ``network``."""
    if scope not in SCOPES:
        raise InputError("--flavor-scope", f"unknown scope {scope!r}", f"choose from {SCOPES}")
    place_of = flavor_places(scenario, scope)
    total: dict[str, int] = defaultdict(int)
    for sid, site in scenario.sites.items():
        for pool in site.pools:
            at = f"@{place_of[sid]}" if place_of else ""
            total[pool.accelerator + at] += pool.accelerators
    weights = sum(float(t["weight"]) for t in tenants) or 1.0
    queues: dict[str, ClusterQueue] = {}
    ignored: list[str] = []
    groups = _cohorts(cohorts, ignored)
    for t in tenants:
        stored = dict(t["quota"] or {})
        quota = {k: n for k, n in stored.items() if ("@" in k) == (scope != "network")}
        if len(quota) < len(stored):
            keys = ", ".join(repr(k) for k in stored if k not in quota)
            ignored.append(
                f"tenant {t['id']}: quota keys {keys} are not flavors of the {scope} scope "
                "and are not enforced (set the tenant's quota again)"
            )
        limits = t.get("limits") or {}
        borrow, lend = limits.get("borrowing") or {}, limits.get("lending") or {}
        if quota:
            quotas = {
                f: FlavorQuota(
                    float(n),
                    None if f not in borrow else float(borrow[f]),
                    None if f not in lend else float(lend[f]),
                )
                for f, n in quota.items()
            }
        else:
            quotas = {f: FlavorQuota(n * float(t["weight"]) / weights) for f, n in total.items()}
        cohort = t.get("cohort") or COHORT
        if cohort not in groups:
            ignored.append(
                f"tenant {t['id']}: cohort {cohort!r} is not defined; its queue is in {COHORT!r}"
            )
            cohort = COHORT
        queues[t["id"]] = ClusterQueue(t["id"], (t["id"],), quotas, cohort, float(t["weight"]))
    if not queues:
        raise InputError("tenants", "no tenant: a queueing policy needs at least one")
    priority = {
        c["name"]: PriorityClass(
            c["name"], int(c["value"]), PREEMPTION_POLICIES[c["preemption_policy"]]
        )
        for c in classes
    }
    default = next((c["name"] for c in classes if c["global_default"]), None)
    config = QueueingConfig(queues, groups, scope, place_of, priority, default)
    return config, ignored


def _cohorts(rows: Sequence[Mapping[Any, Any]], ignored: list[str]) -> dict[str, Cohort]:
    """The built-in cohort and the stored ones; a parent not defined, or one that closes a
    cycle, is left out (with a line in ``ignored``)."""
    parents: dict[str, str | None] = {COHORT: None}
    for r in rows:
        if r["name"] != COHORT:
            parents[str(r["name"])] = r["parent"]
    for name in sorted(parents):
        parent = parents[name]
        if parent is not None and parent not in parents:
            ignored.append(f"cohort {name}: parent {parent!r} is not defined; left out")
            parents[name] = None
    for name in sorted(parents):
        cycle = cohort_cycle(parents, name)
        if cycle:
            ignored.append(f"cohort {name}: cycle {' -> '.join(cycle)}; its parent is left out")
            parents[name] = None
    return {name: Cohort(name, parent) for name, parent in parents.items()}

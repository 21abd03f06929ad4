"""Sites, pools, links and the scenario that ties them together."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from suanli.errors import UnknownNameError
from suanli.model.accelerators import AcceleratorCatalog
from suanli.model.jobs import Tenant

if TYPE_CHECKING:
    from suanli.core.queueing.quota import QueueingConfig

FloatArray = npt.NDArray[np.float64]

#: Great-circle latency model (SOURCES.md, MIIT 2023): one-way ms = km x 1.5 / 200.
ROUTE_FACTOR = 1.5
FIBRE_KM_PER_MS = 200.0
EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True, slots=True)
class Pool:
    """Identical nodes of one accelerator type at a site."""

    accelerator: str
    nodes: int
    per_node: int
    cpu_per_node: int = 96
    memory_gb_per_node: int = 1024

    @property
    def accelerators(self) -> int:
        return self.nodes * self.per_node


@dataclass(frozen=True, slots=True)
class Site:
    """A data-center site. ``price`` (yuan/kWh) and ``carbon`` (kgCO2/kWh) are hourly series
    indexed by whole hours since the scenario's start."""

    id: str
    name: str
    hub: str
    operator: str
    jurisdiction: str
    region: str
    lat: float
    lon: float
    pue: float
    power_cap_mw: float
    price: FloatArray
    carbon: FloatArray
    pools: tuple[Pool, ...]
    notes: str = ""
    #: province or state; ``region`` is the network's own grouping (east, west, partner)
    province: str = ""

    @property
    def accelerators(self) -> int:
        return sum(p.accelerators for p in self.pools)


@dataclass(frozen=True, slots=True)
class Link:
    """A one-way network path between two sites."""

    src: str
    dst: str
    latency_ms: float
    bandwidth_gbps: float
    price_yuan_per_gb: float

    def transfer_hours(self, size_gb: float) -> float:
        if self.src == self.dst or size_gb <= 0:
            return 0.0
        return size_gb * 8.0 / self.bandwidth_gbps / 3600.0


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def default_latency_ms(a: Site, b: Site) -> float:
    """One-way latency: great-circle distance x 1.5 / 200 km per ms (0.5 ms within a site)."""
    if a.id == b.id:
        return 0.5
    return great_circle_km(a.lat, a.lon, b.lat, b.lon) * ROUTE_FACTOR / FIBRE_KM_PER_MS


@dataclass(frozen=True, slots=True)
class CrossSiteGangs:
    """A hub whose sites may run one synchronous training gang together (``spec.network.
    crossSiteGangs``): the link between its sites and how much slower such a gang runs."""

    hub: str
    #: the hub's sites, in scenario order (two or more)
    sites: tuple[str, ...]
    #: bandwidth of the inter-site link the gang synchronises over (Gbit/s)
    bandwidth_gbps: float
    #: run time of a split gang = run time on its type x this factor (>= 1; an estimate)
    slowdown: float
    #: where the figures come from ("EST ...")
    basis: str = ""


@dataclass(frozen=True, slots=True)
class CostParameters:
    """Prices that turn a placement into yuan. Each is a scenario setting with its basis."""

    #: yuan per tonne CO2 charged on the emissions of a placement
    carbon_price_yuan_per_t: float = 100.0
    #: penalty for a job that finishes after its deadline (or is rejected), per reference GPU-hour
    deadline_penalty_yuan_per_gpu_h: float = 20.0
    #: latency cost of serving users from far away: yuan per accelerator-hour per ms one-way
    latency_yuan_per_gpu_h_ms: float = 0.02


@dataclass(frozen=True)
class Scenario:
    """Everything the scheduler knows about the world, immutable for one run."""

    name: str
    start: datetime
    hours: int
    catalog: AcceleratorCatalog
    sites: Mapping[str, Site]
    links: Mapping[tuple[str, str], Link]
    tenants: Mapping[str, Tenant]
    costs: CostParameters = field(default_factory=CostParameters)
    description: str = ""
    #: queues, quotas and cohorts from the file's ``queueing:`` section (None: one queue per
    #: tenant, see `suanli.core.policies.queueing.default_config`)
    queueing: QueueingConfig | None = None
    #: hubs whose sites may run one gang together, by hub name (empty: none may)
    cross_site: Mapping[str, CrossSiteGangs] = field(default_factory=dict)

    def site(self, site_id: str) -> Site:
        try:
            return self.sites[site_id]
        except KeyError:
            raise UnknownNameError(
                "site", f"unknown site {site_id!r}", f"known: {', '.join(self.sites)}"
            ) from None

    def link(self, src: str, dst: str) -> Link:
        return self.links[(src, dst)]

    @property
    def site_ids(self) -> tuple[str, ...]:
        return tuple(self.sites)

    @property
    def accelerators(self) -> int:
        return sum(s.accelerators for s in self.sites.values())

"""The domain model: accelerators, sites, links, tenants, jobs and the scenario that holds them.

Plain frozen dataclasses: the core reads them on hot paths, so they carry no validation cost.
Validation happens once, at the boundary (`suanli.scenario` and `suanli.workload`).
"""

from suanli.model.accelerators import AcceleratorCatalog, AcceleratorType, Figure
from suanli.model.jobs import (
    RESTRICTED_CLASSES,
    Classification,
    DataAsset,
    Job,
    JobKind,
    Sector,
    Tenant,
)
from suanli.model.network import Link, Pool, Scenario, Site

__all__ = [
    "RESTRICTED_CLASSES",
    "AcceleratorCatalog",
    "AcceleratorType",
    "Classification",
    "DataAsset",
    "Figure",
    "Job",
    "JobKind",
    "Link",
    "Pool",
    "Scenario",
    "Sector",
    "Site",
    "Tenant",
]

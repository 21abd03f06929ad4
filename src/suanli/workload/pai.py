"""The ``pai-2020`` queueing workload: the PAI 2020 trace's jobs on the PAI cluster.

What comes from the trace and what is drawn (docs/queueing.md, "The pai-2020 scenario"):

* arrivals and lengths: ``pai-100k.csv`` (99,998 jobs; arrival order, relative gaps and run
  lengths kept). GAIA spread the sample over one year, at which rate the 6,742-GPU cluster
  would be 99 % idle, so the arrival times are compressed by one factor chosen so that the
  offered load (accelerator-hours asked / accelerator-hours the cluster has while jobs
  arrive) equals ``load`` (default `DEFAULT_LOAD`). The factor follows from the trace and the
  cluster alone, not from any policy's result.
* accelerators per job: a doubling ladder 0.5, 1, 2, 4, 8 (PAI's median and maximum GPU
  count in ``cluster_summary.csv``) with probabilities fitted to PAI's mean, 0.683
  (`suanli.workload.traces.doubling_sizes`).
* accelerator type: one per job, drawn in proportion to each flavor's GPUs in the cluster
  (``pai-100k.csv`` does not say which type a job ran on); ``duration_h`` is set so that the
  job runs exactly its trace length on that type.
* tenant: drawn from `TENANT_MIX` (ours, EST), which differs from the tenants' weights on
  purpose so that some tenants borrow and others lend.
* priority: 1 for `URGENT_SHARE` of the jobs (EST; the trace has no priorities), else 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from suanli.errors import InputError
from suanli.model import Job, Scenario
from suanli.model.jobs import Classification, DataAsset, JobKind
from suanli.workload import traces

#: offered load the arrival times are compressed to (EST: a busy shared cluster)
DEFAULT_LOAD = 0.9
#: share of each tenant's jobs in the workload (EST; weights are in the scenario file)
TENANT_MIX: dict[str, float] = {
    "fin-bank": 0.35,
    "health-hospital": 0.10,
    "mfg-factory": 0.15,
    "gov-services": 0.05,
    "edu-university": 0.35,
}
#: share of jobs with priority 1 (EST)
URGENT_SHARE = 0.05
#: the ladder of accelerators per job: PAI's median and maximum (cluster_summary.csv)
SIZE_LADDER = (0.5, 8.0, "PAI")


def pai_workload(
    scenario: Scenario,
    *,
    seed: int = 7,
    days: float | None = None,
    load: float = DEFAULT_LOAD,
) -> list[Job]:
    """The PAI jobs for ``scenario`` (arrivals within ``days`` of the start, if given)."""
    if not 0 < load <= 2:
        raise InputError("load", f"must be in (0, 2], got {load:g}")
    missing = sorted(set(TENANT_MIX) - set(scenario.tenants))
    if missing:
        raise InputError(
            f"scenario {scenario.name}",
            f"the PAI workload needs tenants {', '.join(missing)}",
            "use the built-in pai-2020 scenario or define these tenants",
        )
    flavors: dict[str, int] = {}
    for site in scenario.sites.values():
        for pool in site.pools:
            flavors[pool.accelerator] = flavors.get(pool.accelerator, 0) + pool.accelerators
    site_id = next(iter(scenario.sites))
    rng = np.random.default_rng(seed)
    arrival = np.asarray(traces.pai_arrivals_h(), dtype=np.float64)
    length = traces.pai_lengths_h()
    n = len(arrival)
    lo, hi, cluster = SIZE_LADDER
    sizes, p = traces.doubling_sizes(lo, hi, traces.cluster_summary()[cluster]["avg_gpu_num"])
    accel = rng.choice(sizes, size=n, p=p)
    names = sorted(flavors)
    share = np.array([flavors[f] for f in names], dtype=np.float64)
    kind = rng.choice(len(names), size=n, p=share / share.sum())
    tenants = list(TENANT_MIX)
    mix = np.array([TENANT_MIX[t] for t in tenants])
    tenant = rng.choice(len(tenants), size=n, p=mix / mix.sum())
    urgent = rng.random(n) < URGENT_SHARE
    # compress time so the cluster is offered `load` of its accelerator-hours while jobs arrive
    span_h = float((accel * length).sum()) / (load * scenario.accelerators)
    arrival = (arrival - arrival[0]) * (span_h / float(arrival[-1] - arrival[0]))
    speed = {f: scenario.catalog[f].throughput(False) for f in names}
    jobs = []
    for i in range(n):
        if days is not None and arrival[i] >= days * 24.0:
            break
        flavor = names[int(kind[i])]
        jobs.append(
            Job(
                id=f"pai{i:06d}",
                tenant=tenants[int(tenant[i])],
                kind=JobKind.TRAIN,
                accelerators=float(accel[i]),
                types=(flavor,),
                duration_h=float(length[i]) * speed[flavor],
                arrival_h=float(arrival[i]),
                data=DataAsset(site_id, 1.0, Classification.GENERAL),
                priority=int(urgent[i]),
                gang=True,
            )
        )
    return jobs


#: built-in scenarios whose default workload is a trace rather than the generator
TRACE_WORKLOADS: dict[str, Callable[..., list[Job]]] = {"pai-2020": pai_workload}

__all__ = ["DEFAULT_LOAD", "TENANT_MIX", "TRACE_WORKLOADS", "pai_workload"]

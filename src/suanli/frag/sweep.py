"""Fan (policy, trace, seed) runs out over Ray and fold them into the results table.

The table is a pure function of the runs: results are sorted by (policy, trace, seed) before
anything is summarised, so it does not depend on the number of workers or on finishing order.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from suanli.alloc import POLICY_NAMES
from suanli.errors import UnknownNameError
from suanli.frag.protocol import RunResult, run_once
from suanli.frag.summary import Summary
from suanli.frag.trace import NodeTable, PodTable

Job = tuple[str, str, int]
"""(policy name, trace name, seed)."""
Progress = Callable[[int, int], None]

DISPLAY = {
    "random": "Random",
    "dotprod": "DotProd",
    "gpuclustering": "GpuClustering",
    "gpupacking": "GpuPacking",
    "bestfit": "BestFit",
    "fgd": "FGD",
    "suanli": "Suanli",
}
"""Policy names as the paper's tables spell them."""


def policy_names(spec: str) -> list[str]:
    """``all`` or a comma-separated list of policy names, checked and lower-cased."""
    names = (
        list(POLICY_NAMES)
        if spec.strip().lower() == "all"
        else [p.strip().lower() for p in spec.split(",")]
    )
    for name in names:
        if name not in POLICY_NAMES:
            raise UnknownNameError(
                f"--policy {name}",
                "unknown policy",
                f"choose one of {', '.join(POLICY_NAMES)}, all",
            )
    return names


def _run_job(nodes: NodeTable, traces: dict[str, PodTable], job: Job) -> RunResult:
    policy, trace, seed = job
    return run_once(nodes, traces[trace], trace, policy, seed)


def run_local(
    nodes: NodeTable,
    traces: dict[str, PodTable],
    jobs: Sequence[Job],
    progress: Progress | None = None,
) -> list[RunResult]:
    """Run every job in this process, in order."""
    out = []
    for i, job in enumerate(jobs):
        out.append(_run_job(nodes, traces, job))
        if progress:
            progress(i + 1, len(jobs))
    return sorted(out, key=lambda r: (r.policy, r.trace, r.seed))


def run_ray(
    nodes: NodeTable,
    traces: dict[str, PodTable],
    jobs: Sequence[Job],
    *,
    workers: int | None = None,
    address: str | None = None,
    progress: Progress | None = None,
) -> list[RunResult]:
    """Run the jobs as Ray tasks: on a local instance with ``workers`` CPUs, or at ``address``.

    The traces travel once (``ray.put``); a Ray instance started here is shut down on return.
    """
    import ray

    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(
                num_cpus=workers or os.cpu_count() or 1,
                include_dashboard=False,
                log_to_driver=False,
            )
        started = True
    try:
        remote = ray.remote(num_cpus=1)(_run_job)
        nodes_ref = ray.put(nodes)
        traces_ref = ray.put(traces)
        pending: list[Any] = [remote.remote(nodes_ref, traces_ref, job) for job in jobs]
        out: list[RunResult] = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            out.extend(ray.get(done))
            if progress:
                progress(len(out), len(jobs))
    finally:
        if started:
            ray.shutdown()
    return sorted(out, key=lambda r: (r.policy, r.trace, r.seed))


def summarize(results: Sequence[RunResult], points: Sequence[int] = (100, 130)) -> list[Summary]:
    """One summary per (policy, trace), in the order policies and traces first appear sorted."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in sorted(results, key=lambda r: (r.policy, r.trace, r.seed)):
        groups.setdefault((r.policy, r.trace), []).append(r)
    out = []
    for (policy, trace), runs in groups.items():
        mean: dict[int, float] = {}
        sd: dict[int, float] = {}
        for x in points:
            vals = [v for v in (r.unallocated(x) for r in runs) if not math.isnan(v)]
            mean[x] = statistics.fmean(vals) if vals else math.nan
            sd[x] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        curve = []
        for x in range(len(runs[0].curve)):
            ys = [r.curve[x] for r in runs if r.curve[x] is not None]
            curve.append(statistics.fmean(y for y in ys if y is not None) if ys else None)
        seconds = sum(r.seconds for r in runs)
        rate = sum(r.decisions for r in runs) / seconds if seconds > 0 else math.inf
        out.append(
            Summary(policy, trace, tuple(r.seed for r in runs), mean, sd, tuple(curve), rate)
        )
    order = {name: i for i, name in enumerate(POLICY_NAMES)}
    return sorted(out, key=lambda s: (s.trace, order.get(s.policy.lower(), 99)))

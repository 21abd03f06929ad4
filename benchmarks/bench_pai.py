"""The pai-2020 queueing scenario end to end: 99,998 trace jobs per queueing policy.

Each policy runs alone, in this process, on the full pai-2020 workload (``--days`` cuts the
arrivals), without governance and without the lower bound, as

    .venv/bin/suanli simulate --scenario pai-2020 --days 12 --policy P --no-bound \\
        --policy-set none --no-report --json

would. Reported per policy: CPU seconds (user + sys of this process, the figure to compare on
a shared machine), wall seconds, cycles, and the queueing figures of the run; one JSON line
per policy, then the load average.

    .venv/bin/python benchmarks/bench_pai.py [--days 12] [--load 0.9] [--policy slurm ...]
        [--estimate-sigma 1.0]

``--load`` rebuilds the workload at another offered load (`suanli.workload.pai.pai_workload`:
the arrival times are compressed to it; 0.9 is the scenario's own), to check that a result
is not one load's accident. ``--estimate-sigma`` gives the jobs estimates of their lengths
that are off by a log-normal factor, as users' estimates are: shortest-job-first then orders
by the estimate while the runs take their true lengths.

The target (issue 4): each run under 5 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from suanli.model import Job
from suanli.scenario import load_scenario
from suanli.simulation import simulate
from suanli.workload.pai import DEFAULT_LOAD, pai_workload

POLICIES = ("fifo", "slurm", "kueue", "suanli-queue")


def with_estimates(jobs: list[Job], sigma: float, seed: int = 7) -> list[Job]:
    """Each job with an estimate of its length: the true length times exp(N(0, sigma))."""
    factors = np.random.default_rng(seed).lognormal(0.0, sigma, len(jobs))
    return [j.copy(estimate_h=j.duration_h * float(f)) for j, f in zip(jobs, factors, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=12.0)
    ap.add_argument("--load", type=float, default=DEFAULT_LOAD)
    ap.add_argument("--policy", action="append", default=None)
    ap.add_argument(
        "--estimate-sigma", type=float, default=None,
        help="give every job an estimate of its length off by a log-normal factor of this "
        "sigma (seed 7); shortest-job-first then orders by the estimate",
    )  # fmt: skip
    args = ap.parse_args()
    scenario = load_scenario("pai-2020")
    for name in args.policy or POLICIES:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        jobs = pai_workload(scenario, days=args.days, load=args.load)
        if args.estimate_sigma is not None:
            jobs = with_estimates(jobs, args.estimate_sigma)
        result = simulate(scenario, jobs, policies=[name], bound=False, policy_set=None)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        run = result.runs[name]
        figures = run.queue.as_json() if run.queue is not None else {}
        figures.pop("per_tenant", None)
        row = {"policy": name, "load": args.load, "estimate_sigma": args.estimate_sigma,
               "jobs": len(result.jobs), "cpu_s": round(cpu, 1),
               "wall_s": round(wall, 1), "cycles": run.trace.cycles, **figures}  # fmt: skip
        print(json.dumps(row), flush=True)
    print(json.dumps({"loadavg": os.getloadavg()}))


if __name__ == "__main__":
    main()

"""Governance overhead: the default simulation with and without the default policy set.

    .venv/bin/python benchmarks/bench_governance.py [--days 1] [--repeats 2] [--no-bound]

Runs `suanli.simulation.simulate` (four policies, lower bound) on the same generated workload
with ``policy_set="none"`` (the interim residency rule) and ``"default"``, alternating, and
reports the best wall time and the best CPU time (user + sys of this process) of each, and their
ratios. On a shared machine the CPU ratio is the one to read: other processes stretch wall time.
Target (issue 5): ratio <= 1.15. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from datetime import UTC, datetime

from suanli.simulation import load_inputs
from suanli.simulation import simulate as simulate_library


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-bound", action="store_true")
    args = ap.parse_args()
    load0 = [round(x, 2) for x in os.getloadavg()]
    scenario, jobs = load_inputs(days=args.days)
    best: dict[str, float] = {"none": float("inf"), "default": float("inf")}
    best_cpu = dict(best)
    rejected: dict[str, dict[str, int]] = {}
    violations: dict[str, dict[str, int | None]] = {}
    for _ in range(args.repeats):
        for policy_set in ("none", "default"):
            t0, c0 = time.perf_counter(), _cpu_s()
            result = simulate_library(
                scenario, jobs, policy_set=policy_set, bound=not args.no_bound
            )
            best[policy_set] = min(best[policy_set], time.perf_counter() - t0)
            best_cpu[policy_set] = min(best_cpu[policy_set], _cpu_s() - c0)
            rejected[policy_set] = {n: r.metrics.jobs_rejected for n, r in result.runs.items()}
            violations[policy_set] = {
                n: r.metrics.policy_violations for n, r in result.runs.items()
            }
    print(
        json.dumps(
            {
                "command": f"benchmarks/bench_governance.py --days {args.days:g} "
                f"--repeats {args.repeats}" + (" --no-bound" if args.no_bound else ""),
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": f"{platform.machine()} {os.cpu_count()} CPUs, "
                f"{platform.python_implementation()} {platform.python_version()}",
                "load_average_at_start": load0,
                "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                "jobs": len(jobs),
                "seconds_without_governance": round(best["none"], 2),
                "seconds_with_default_policy_set": round(best["default"], 2),
                "ratio": round(best["default"] / best["none"], 3),
                "cpu_seconds_without_governance": round(best_cpu["none"], 2),
                "cpu_seconds_with_default_policy_set": round(best_cpu["default"], 2),
                "cpu_ratio": round(best_cpu["default"] / best_cpu["none"], 3),
                "jobs_rejected": rejected,
                "policy_violations": violations,
            },
            indent=1,
        )
    )


def _cpu_s() -> float:
    """User plus system CPU seconds of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


if __name__ == "__main__":
    main()

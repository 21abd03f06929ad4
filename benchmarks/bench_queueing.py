"""Admission speed of the queueing policies with 10,000 pending jobs and 50 tenants.

The national scenario (``china-edwc``) with its tenants replaced by 50 tenants of equal
weight; the generated workload's first 10,000 jobs all arrive at hour 0 (tenants round-robin).
One scheduler cycle takes them in (intake, not timed separately) and admits what fits; then
cycles run as jobs finish, until 200 cycles. Reported: admissions per second of cycle time
and the mean cycle time with the backlog pending.

    .venv/bin/python benchmarks/bench_queueing.py [--jobs 10000] [--tenants 50]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time

from suanli.core.clock import ManualClock
from suanli.core.policies import make_policy
from suanli.core.scheduler import Scheduler
from suanli.model import Tenant
from suanli.scenario import load_scenario
from suanli.workload import generate_workload


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--tenants", type=int, default=50)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--policy", action="append", default=None)
    args = ap.parse_args()
    base = load_scenario("china-edwc")
    proto = next(iter(base.tenants.values()))
    tenants = {
        f"t{i:02d}": Tenant(f"t{i:02d}", f"T{i}", proto.sector, proto.jurisdiction)
        for i in range(args.tenants)
    }
    scenario = dataclasses.replace(base, tenants=tenants)
    jobs = generate_workload(base, seed=7, days=27.0)[: args.jobs]
    jobs = [
        j.copy(tenant=f"t{i % args.tenants:02d}", arrival_h=0.0, deadline_h=None)
        for i, j in enumerate(jobs)
    ]
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"# {len(jobs)} pending jobs, {args.tenants} tenants")
    for name in args.policy or ["fifo", "slurm", "kueue", "suanli-queue"]:
        clock = ManualClock(0.0)
        sched = Scheduler(scenario, make_policy(name), clock)
        for j in jobs:
            sched.submit(j)
        t0 = time.perf_counter()
        started = len(sched.cycle().started)
        first = time.perf_counter() - t0
        cycle_s = first
        cycles = 1
        while cycles < args.cycles and sched.running:
            p = min(sched.running.values(), key=lambda p: p.end_h)
            clock.set(p.end_h)
            sched.finish(p.job.id)
            t0 = time.perf_counter()
            started += len(sched.cycle().started)
            cycle_s += time.perf_counter() - t0
            cycles += 1
        later_ms = 1000 * (cycle_s - first) / max(1, cycles - 1)
        print(
            f"{name:13s} first cycle (intake of {len(jobs)}) {first:.2f} s; "
            f"{started} admissions in {cycles} cycles, {cycle_s:.2f} s: "
            f"{started / cycle_s:.0f} admissions/s, {later_ms:.1f} ms per later cycle; "
            f"{sched.policy.waiting()} still pending"
        )


if __name__ == "__main__":
    main()

"""Large training gangs in the two multi-site hubs, with and without ``span: hub``.

The national scenario (``china-edwc``) and its generated workload (``--days``, seed 7), plus
``--large`` training gangs of 512 to 1,024 accelerators (types A100, H800 or A800; reference
run time 8 to 24 h; general data of 2 TB homed at one of the four sites of the Yangtze River
Delta and Chengdu-Chongqing hubs; arrivals spread over the window; every tenant in turn). No
single A100 pool of the network holds 512; the H800 pools hold up to 640 and Gui'an's A800
pool 1,200. The same workload runs twice under each policy: the large gangs with
``span: pool`` (as today) and with ``span: hub`` (they may split across the sites of those
hubs, at the scenario's slowdown of 1.3). Reported per run, for the large gangs: how many ran,
how many ran split, were rejected, their mean wait (arrival to last start), JCT (arrival to
finish) and energy; and, over every job, the mean JCT, the objective (yuan), the transfer cost
(yuan), the preemptions and the most restarts of one job (its starts less one).

    .venv/bin/python benchmarks/cross_site_gangs.py [--days 2] [--large 24] [--policy ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from collections import Counter
from collections.abc import Sequence

from suanli.model import Classification, DataAsset, Job, JobKind
from suanli.scenario import load_scenario
from suanli.simulation import simulate
from suanli.workload import generate_workload

HUB_SITES = ("yrd-demo", "wuhu", "tianfu", "chongqing")
SIZES = (512, 640, 768, 896, 1024)
TYPES = ("A100", "H800", "A800")


def large_gangs(n: int, window_h: float, tenants: Sequence[str], seed: int) -> list[Job]:
    rng = random.Random(seed)
    return [
        Job(
            id=f"large-{i:03d}",
            tenant=tenants[i % len(tenants)],
            kind=JobKind.TRAIN,
            accelerators=float(rng.choice(SIZES)),
            types=TYPES,
            duration_h=float(rng.choice((8, 12, 24))),
            arrival_h=round(rng.uniform(0.0, window_h), 3),
            data=DataAsset(rng.choice(HUB_SITES), 2000.0, Classification.GENERAL),
        )
        for i in range(n)
    ]


def mean(xs: Sequence[float]) -> str:
    return f"{sum(xs) / len(xs):.2f}" if xs else "-"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=2.0)
    ap.add_argument("--large", type=int, default=24)
    ap.add_argument("--policy", action="append", default=None)
    args = ap.parse_args()
    policies = args.policy or ["kueue", "suanli-queue", "suanli"]
    scenario = load_scenario("china-edwc")
    base = generate_workload(scenario, seed=7, days=args.days)
    large = large_gangs(args.large, args.days * 24.0, list(scenario.tenants), seed=11)
    ids = {j.id for j in large}
    machine = platform.processor() or platform.machine()
    print(f"# {machine}, Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}, "
          f"{time.strftime('%H:%M UTC', time.gmtime())}")  # fmt: skip
    print(f"# china-edwc, {len(base)} generated jobs over {args.days:g} days + {len(large)} "
          f"large training gangs ({', '.join(map(str, SIZES))} accelerators)")  # fmt: skip
    print("| policy | large gangs | ran | ran split | rejected | mean wait (h) | mean JCT (h) "
          "| their energy (MWh) | all jobs' mean JCT (h) | objective (yuan) "
          "| transfer (yuan) | preemptions | most restarts of a job | wall (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for span in ("pool", "hub"):
        jobs = base + [j.copy(span=span) for j in large]
        t0 = time.perf_counter()
        result = simulate(scenario, jobs, policies, bound=False)
        wall = time.perf_counter() - t0
        for name, run in result.runs.items():
            last = {p.job.id: p for p in run.trace.placements if p.job.id in ids}
            split = sum(1 for p in last.values() if p.option.parts)
            rejected = sum(1 for r in run.trace.rejections if r.job.id in ids)
            waits = [p.start_h - p.job.arrival_h for p in last.values()]
            jcts = [p.end_h - p.job.arrival_h for p in last.values()]
            energy = sum(p.cost.energy_kwh for p in run.trace.placements if p.job.id in ids)
            all_jct = run.queue.mean_jct_h if run.queue is not None else float("nan")
            preempted = run.queue.preemptions if run.queue is not None else 0
            starts = Counter(p.job.id for p in run.trace.placements)
            restarts = max(starts.values(), default=1) - 1
            print(f"| {name} | span {span} | {len(last)} | {split} | {rejected} | {mean(waits)} "
                  f"| {mean(jcts)} | {energy / 1000:,.1f} | {all_jct:.2f} "
                  f"| {run.metrics.objective_yuan:,.0f} | {run.metrics.transfer_cost_yuan:,.0f} "
                  f"| {preempted} | {restarts} | {wall:.0f} (all policies) |")  # fmt: skip
    print(f"# done {time.strftime('%H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

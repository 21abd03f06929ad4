"""Placement speed of every policy on the 1,213-node openb cluster, one core, in this process.

Usage: .venv/bin/python benchmarks/bench_frag.py [--trace default] [--seeds 42-44]
       .venv/bin/python benchmarks/bench_frag.py --ablation [--traces default,...] [--seeds 42-46]
       .venv/bin/python benchmarks/bench_frag.py --losses [--traces multigpu40,...] [--seeds 42]

Runs the `suanli frag` protocol (about 10,800 placement decisions per run) without Ray and
reports decisions per second of placement time (trace loading excluded) and per CPU-second of
the whole runs (shuffling and tuning included, so a floor), which the load of other jobs on a
shared machine distorts far less.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from suanli.alloc import FGD, POLICY_NAMES, Suanli, TargetWorkload
from suanli.alloc.cluster import Policy
from suanli.frag.experiment import parse_seeds
from suanli.frag.protocol import allocation_curve, run_once, shuffled_cluster, submission_order
from suanli.frag.trace import NodeTable, PodTable, read_nodes, read_pods

DATA = Path(__file__).resolve().parent.parent / "data" / "alibaba-gpu-2023"


ABLATION_TRACES = "default,cpu200,gpushare40,gpushare80,multigpu20,multigpu40"


def _w09(tw: TargetWorkload, **kw: Any) -> Suanli:
    """Suanli as measured before w = 1.2 and the LP holes: w = 0.9, random-fit H as tie-break."""
    return Suanli(tw, **({"weight": 0.9, "holes": "random", "lead_waste": 0.0} | kw))


def _random_fit(tw: TargetWorkload, **kw: Any) -> Suanli:
    """Suanli with the random-fit H table (``expected_waste``) instead of the LP's."""
    return Suanli(tw, **({"holes": "random", "lead_waste": 0.0} | kw))


ABLATION = {
    "FGD": lambda tw: FGD(tw),
    "exact dF": lambda tw: _w09(tw, levels=10**9, balance=False, cpu_rule=False, waste=0),
    "200 levels": lambda tw: _w09(tw, levels=200, balance=False, cpu_rule=False, waste=0),
    "200 levels + CPU rule": lambda tw: _w09(tw, levels=200, balance=False, waste=0),
    "200 levels + balance": lambda tw: _w09(tw, levels=200, cpu_rule=False, waste=0),
    "100 levels + both": lambda tw: _w09(tw, levels=100, waste=0),
    "150 levels + both": lambda tw: _w09(tw, levels=150, waste=0),
    "200 levels + both (v = 0)": lambda tw: _w09(tw, waste=0),
    "200 levels + both + waste in the leading key": lambda tw: _w09(tw, waste=0, lead_waste=0.5),
    "200 levels + both + expected waste (no reserve)": lambda tw: _w09(tw, reserve=0),
    "200 levels + both + expected waste + typed reserve (w = 0.9)": lambda tw: _w09(tw),
    "the same with w = 1.2 (Suanli until the LP hole table)": lambda tw: _random_fit(tw),
    "random-fit H in the leading key at 10": lambda tw: _random_fit(tw, lead_waste=10.0),
    "LP hole table as the tie-break only": lambda tw: Suanli(tw, lead_waste=0.0),
    "Suanli (LP hole table in the leading key at 10)": lambda tw: Suanli(tw),
}
HOLE_BINS = (1, 50, 100, 150, 200, 300, 500, 1000)
"""Bins (milli-GPU left on a partly used GPU) of the --losses breakdown."""


def unallocated_at_100(nodes: NodeTable, pods: PodTable, policy: Policy, seed: int) -> float:
    """The protocol of ``run_once`` for a policy object built here."""
    cluster = shuffled_cluster(nodes, seed)
    capacity = cluster.total_gpu_milli()
    order = submission_order(pods, capacity, seed)
    arrived, used = np.empty(len(order), np.int64), np.empty(len(order), np.int64)
    a = u = 0
    for i, shape in enumerate(order):
        a += shape.total_gpu_milli
        if cluster.place(shape, policy) is not None:
            u += shape.total_gpu_milli
        arrived[i], used[i] = a, u
    y = allocation_curve(arrived, used, capacity)[100]
    return float("nan") if y is None else 100.0 - y


def ablation(
    nodes: NodeTable, traces: list[str], seeds: list[int], variants: list[str] | None = None
) -> None:
    """Mean unallocated GPU % at 100% arrival of each variant of Suanli's ingredients."""
    print("| variant | " + " | ".join(traces) + " | mean |")
    print("|---" * (len(traces) + 2) + "|")
    pods = {t: read_pods(DATA / f"openb_pod_list_{t}.csv.gz") for t in traces}
    for label, make in ABLATION.items():
        if variants and label not in variants:
            continue
        means = []
        for t in traces:
            tw = TargetWorkload.from_shapes(pods[t].shapes)
            vals = [unallocated_at_100(nodes, pods[t], make(tw), s) for s in seeds]
            means.append(sum(vals) / len(vals))
        cells = " | ".join(f"{m:.2f}" for m in means)
        print(f"| {label} | {cells} | {sum(means) / len(means):.2f} |", flush=True)


def losses(nodes: NodeTable, pods: PodTable, policy: Policy, seed: int) -> dict[str, float]:
    """Where the GPUs are at 100% arrival, in % of capacity: failed pods by kind, free by kind.

    Placement stops when the next pod would take arrival past 100%; then the failed GPU demand
    equals the free GPU milli, which is split into whole free GPUs, partly used GPUs by the milli
    left (HOLE_BINS), and the part of all that lies on nodes with under 4 cores left.
    """
    cluster = shuffled_cluster(nodes, seed)
    capacity = cluster.total_gpu_milli()
    failed: Counter[str] = Counter()
    arrived = 0
    for shape in submission_order(pods, capacity, seed):
        if arrived + shape.total_gpu_milli > capacity:
            break
        arrived += shape.total_gpu_milli
        if cluster.place(shape, policy) is None and shape.num_gpu:
            kind = f"{shape.num_gpu} GPU" if shape.gpu_milli == 1000 else f"{shape.gpu_milli} milli"
            kind += " typed" if shape.gpu_types else ""
            failed["failed " + kind] += shape.total_gpu_milli
    free = cluster.gpu_free
    out = {k: 100.0 * v / capacity for k, v in failed.most_common(6)}
    out["free whole GPUs"] = 100.0 * int(free[free == 1000].sum()) / capacity
    for lo, hi in itertools.pairwise(HOLE_BINS):
        part = free[(free >= lo) & (free < hi)]
        out[f"free holes {lo}-{hi - 1}"] = 100.0 * int(part.sum()) / capacity
    out["free on nodes < 4 cores"] = 100.0 * int(free[cluster.cpu_free < 4000].sum()) / capacity
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", default="default")
    parser.add_argument("--seeds", default="42-44")
    parser.add_argument("--policies", default=",".join(POLICY_NAMES))
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--losses", action="store_true", help="where FGD and Suanli lose GPUs")
    parser.add_argument("--traces", default=ABLATION_TRACES)
    parser.add_argument("--variants", default="", help="comma list of ablation rows (default all)")
    args = parser.parse_args()
    nodes = read_nodes(DATA / "openb_node_list_gpu_node.csv.gz")
    if args.losses:
        for trace in args.traces.split(","):
            pods = read_pods(DATA / f"openb_pod_list_{trace}.csv.gz")
            tw = TargetWorkload.from_shapes(pods.shapes)
            for seed in parse_seeds(args.seeds):
                for policy in (FGD(tw), Suanli(tw)):
                    cells = losses(nodes, pods, policy, seed)
                    text = ", ".join(f"{k} {v:.2f}" for k, v in cells.items())
                    print(f"{trace} seed {seed} {policy.name}: {text}", flush=True)
        return
    if args.ablation:
        chosen = [v for v in args.variants.split(",") if v] or None
        ablation(nodes, args.traces.split(","), parse_seeds(args.seeds), chosen)
        return
    pods = read_pods(DATA / f"openb_pod_list_{args.trace}.csv.gz")
    seeds = parse_seeds(args.seeds)
    print(f"# {platform.machine()} {platform.python_implementation()} {platform.python_version()}")
    day = time.strftime("%Y-%m-%d")
    print(f"# {len(nodes.names)} nodes, trace {args.trace}, seeds {args.seeds}, {day}")
    print(f"{'policy':<14}{'decisions':>10}{'seconds':>10}{'decisions/s':>14}{'per CPU-s':>12}")
    for policy in args.policies.split(","):
        start = time.process_time()
        runs = [run_once(nodes, pods, args.trace, policy, s) for s in seeds]
        cpu = time.process_time() - start  # whole runs (with shuffling and tuning): a floor
        decisions = sum(r.decisions for r in runs)
        seconds = sum(r.seconds for r in runs)
        print(
            f"{runs[0].policy:<14}{decisions:>10}{seconds:>10.2f}"
            f"{decisions / seconds:>14,.0f}{decisions / cpu:>12,.0f}"
        )


if __name__ == "__main__":
    main()

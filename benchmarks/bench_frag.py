"""Placement speed of every policy on the 1,213-node openb cluster, one core, in this process.

Usage: .venv/bin/python benchmarks/bench_frag.py [--trace default] [--seeds 42-44]

Runs the `suanli frag` protocol (about 10,800 placement decisions per run) without Ray and
reports decisions per second of placement time (trace loading excluded).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from suanli.alloc import POLICY_NAMES
from suanli.frag.experiment import parse_seeds
from suanli.frag.protocol import run_once
from suanli.frag.trace import read_nodes, read_pods

DATA = Path(__file__).resolve().parent.parent / "data" / "alibaba-gpu-2023"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", default="default")
    parser.add_argument("--seeds", default="42-44")
    parser.add_argument("--policies", default=",".join(POLICY_NAMES))
    args = parser.parse_args()
    nodes = read_nodes(DATA / "openb_node_list_gpu_node.csv.gz")
    pods = read_pods(DATA / f"openb_pod_list_{args.trace}.csv.gz")
    seeds = parse_seeds(args.seeds)
    print(f"# {platform.machine()} {platform.python_implementation()} {platform.python_version()}")
    day = time.strftime("%Y-%m-%d")
    print(f"# {len(nodes.names)} nodes, trace {args.trace}, seeds {args.seeds}, {day}")
    print(f"{'policy':<14}{'decisions':>10}{'seconds':>10}{'decisions/s':>14}")
    for policy in args.policies.split(","):
        runs = [run_once(nodes, pods, args.trace, policy, s) for s in seeds]
        decisions = sum(r.decisions for r in runs)
        seconds = sum(r.seconds for r in runs)
        print(f"{runs[0].policy:<14}{decisions:>10}{seconds:>10.2f}{decisions / seconds:>14,.0f}")


if __name__ == "__main__":
    main()

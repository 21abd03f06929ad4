"""Headroom: a lower bound on any placement's unallocated GPU % at 100% arrival, per trace.

Usage: .venv/bin/python benchmarks/frag_bound.py [--traces default,gpushare80,...] [--seeds 42-51]
       [--gpu-only]

For every (trace, seed) the arrival order of the `suanli frag` protocol is fixed, and
``suanli.frag.bound`` solves a linear relaxation (HiGHS) of the best hindsight packing of the
pods that arrived by the end of the 100% window. The formulation is in that module's docstring.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from suanli.frag.bound import unallocated_lower_bound
from suanli.frag.experiment import parse_seeds
from suanli.frag.trace import read_nodes, read_pods

DATA = Path(__file__).resolve().parent.parent / "data" / "alibaba-gpu-2023"
WEAK = "default,gpushare40,gpushare60,gpushare80,multigpu30,multigpu40"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", default=WEAK)
    parser.add_argument("--seeds", default="42-51")
    parser.add_argument("--gpu-only", action="store_true", help="drop the CPU and memory rows")
    args = parser.parse_args()
    nodes = read_nodes(DATA / "openb_node_list_gpu_node.csv.gz")
    seeds = parse_seeds(args.seeds)
    print(f"{'trace':<12}{'unallocated GPU % >=':>22}{'sd':>8}{'cpu s':>8}   per seed")
    for trace in args.traces.split(","):
        pods = read_pods(DATA / f"openb_pod_list_{trace}.csv.gz")
        start = time.process_time()
        values = [unallocated_lower_bound(nodes, pods, s, args.gpu_only) for s in seeds]
        cpu = time.process_time() - start
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        per = " ".join(f"{v:.3f}" for v in values)
        mean = float(np.mean(values))
        print(f"{trace:<12}{mean:>22.3f}{sd:>8.3f}{cpu:>8.1f}   {per}", flush=True)


if __name__ == "__main__":
    main()

"""The FGD paper's experiment: one (policy, trace, seed) run of the placement protocol.

0. Prefix every node name with its place in a random permutation of the nodes (the paper's
   simulator does this on loading the cluster), so the lexicographic tie-break of the policies
   follows a random node order that is fixed for the run.
1. Start from the pods sorted by name; shuffle them with the seed.
2. Tune the workload to 1.3x the cluster's GPU capacity C: while the GPU demand D satisfies
   D + g < 1.3 C for a pod drawn (with replacement, same generator) from the sorted list, with g
   its per-GPU milli (the original simulator's quirk), append a copy and add its total GPU milli
   to D; if D already exceeds 1.3 C, remove random pods until it does not.
3. Place the pods one by one on an empty cluster; a pod that fits nowhere is dropped.
4. After each attempt record arrived milli A (every pod's GPU demand so far, placed or not) and
   allocated milli U. The allocation curve at x percent is the mean of 100 U / C over attempts with
   round(100 A / C) == x; unallocated GPU % at x is 100 minus it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from suanli.alloc import NodeCluster, TargetWorkload, TaskShape, make_policy
from suanli.frag.trace import NodeTable, PodTable

TUNE_RATIO = 1.3
CURVE_MAX = 130


@dataclass(frozen=True)
class RunResult:
    """Outcome of one run: the allocation curve (percent, None where no attempt) and speed."""

    policy: str
    trace: str
    seed: int
    curve: tuple[float | None, ...]
    decisions: int
    seconds: float

    def unallocated(self, arrived_pct: int) -> float:
        """Unallocated GPU % at ``arrived_pct`` (NaN when no attempt landed there)."""
        y = self.curve[arrived_pct]
        return math.nan if y is None else 100.0 - y


def shuffled_cluster(nodes: NodeTable, seed: int) -> NodeCluster:
    """An empty cluster whose node names carry a seeded random-permutation prefix ("0042-name")."""
    order = sorted(range(len(nodes.names)), key=lambda i: nodes.names[i])
    perm = np.random.default_rng([seed, 1]).permutation(len(order))
    names = list(nodes.names)
    for rank, i in enumerate(order):
        names[i] = f"{int(perm[rank]):04d}-{nodes.names[i]}"
    return NodeCluster(names, nodes.cpu_milli, nodes.memory_mib, nodes.gpus, nodes.models)


def submission_order(
    pods: PodTable, capacity_milli: int, seed: int, ratio: float = TUNE_RATIO
) -> list[TaskShape]:
    """Shuffle the name-sorted pods with ``seed``; tune their GPU demand to ``ratio`` x capacity."""
    rng = np.random.default_rng(seed)
    order = [pods.shapes[i] for i in rng.permutation(len(pods.shapes))]
    demand = sum(s.total_gpu_milli for s in order)
    target = ratio * capacity_milli
    if demand < target:
        n = len(pods.shapes)
        while True:
            extra = pods.shapes[int(rng.integers(n))]
            if demand + extra.gpu_milli > target:
                break
            demand += extra.total_gpu_milli
            order.append(extra)
    else:
        while demand > target and order:
            gone = order.pop(int(rng.integers(len(order))))
            demand -= gone.total_gpu_milli
    return order


def allocation_curve(
    arrived: np.ndarray, used: np.ndarray, capacity_milli: int
) -> tuple[float | None, ...]:
    """Mean allocation % per rounded arrival % (0..130) over the recorded attempts."""
    x = np.floor(arrived * 100.0 / capacity_milli + 0.5).astype(np.int64)
    keep = x <= CURVE_MAX
    y = used[keep] * 100.0 / capacity_milli
    sums = np.bincount(x[keep], weights=y, minlength=CURVE_MAX + 1)
    counts = np.bincount(x[keep], minlength=CURVE_MAX + 1)
    return tuple(float(s / c) if c else None for s, c in zip(sums, counts, strict=True))


def run_once(
    nodes: NodeTable, pods: PodTable, trace: str, policy_name: str, seed: int
) -> RunResult:
    """Run the protocol for one policy and seed; the target workload comes from the pod list."""
    cluster = shuffled_cluster(nodes, seed)
    capacity = cluster.total_gpu_milli()
    workload = TargetWorkload.from_shapes(pods.shapes)
    policy = make_policy(policy_name, target_workload=workload, seed=seed)
    order = submission_order(pods, capacity, seed)
    arrived = np.empty(len(order), np.int64)
    used = np.empty(len(order), np.int64)
    a = u = 0
    start = time.perf_counter()
    for i, shape in enumerate(order):
        a += shape.total_gpu_milli
        if cluster.place(shape, policy) is not None:
            u += shape.total_gpu_milli
        arrived[i] = a
        used[i] = u
    seconds = time.perf_counter() - start
    return RunResult(
        getattr(policy, "name", policy_name),
        trace,
        seed,
        allocation_curve(arrived, used, capacity),
        len(order),
        seconds,
    )

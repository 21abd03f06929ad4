"""Headroom: a hindsight upper bound on the GPU milli ANY placement holds at 100% arrival.

For one (trace, seed) the protocol (``suanli.frag.protocol``) fixes the arrival order. The
unallocated-GPU % at 100% arrival is 100 minus the mean allocation over the attempts i whose
arrived GPU milli A_i rounds to 100% of the capacity C. Whatever a policy does, what it holds
after attempt i is a packing of a subset of the first i pods, so U_i <= min(A_i, OPT(P)), with P
the prefix up to the last attempt of that window and OPT(P) the most GPU milli any packing of a
subset of P holds. ``upper_bound`` computes Z >= OPT(P) by the linear relaxation below (HiGHS,
through scipy.optimize.linprog); ``unallocated_lower_bound`` turns it into 100 minus the mean of
min(A_i, Z) over the window: a LOWER bound on the unallocated-GPU % of every placement, online
or offline.

The relaxation is ``suanli.alloc.packing_lp`` (its docstring has the formulation), over the
node types of the cluster and the pod shapes of P with their counts. Every real placement maps to
a feasible point of the same value: CPU and memory are pooled per node type, pods may be left
out (the online protocol must place a pod that fits), a multi-GPU pod needs only a node type with
enough GPUs, and counts are fractional. ``gpu_only`` drops the CPU and memory rows: what the GPU
sizes alone allow.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from suanli.alloc.packing_lp import PackingSolution, solve_packing
from suanli.alloc.shapes import TaskShape
from suanli.frag.protocol import allocation_curve, submission_order
from suanli.frag.trace import NodeTable, PodTable


def window_end(arrived: np.ndarray, capacity: int) -> int:
    """Attempts up to the last one whose arrived milli rounds to 100% of ``capacity``."""
    pct = np.floor(arrived * 100.0 / capacity + 0.5).astype(np.int64)
    inside = np.flatnonzero(pct == 100)
    return int(inside[-1]) + 1 if inside.size else 0


def upper_bound(pods: list[TaskShape], nodes: NodeTable, gpu_only: bool = False) -> PackingSolution:
    """Z >= the most GPU milli any packing of a subset of ``pods`` on ``nodes`` holds."""
    types = Counter(zip(nodes.models, nodes.cpu_milli, nodes.memory_mib, nodes.gpus, strict=True))
    demand = Counter(s for s in pods if s.num_gpu)
    return solve_packing({s: float(n) for s, n in demand.items()}, types, gpu_only=gpu_only)


def unallocated_lower_bound(
    nodes: NodeTable, pods: PodTable, seed: int, gpu_only: bool = False
) -> float:
    """No placement leaves fewer unallocated GPU % at 100% arrival on (pods, seed) than this."""
    capacity = nodes.total_gpu_milli
    order = submission_order(pods, capacity, seed)
    arrived = np.cumsum([s.total_gpu_milli for s in order], dtype=np.int64)
    end = window_end(arrived, capacity)
    if end == 0:
        return math.nan
    z = upper_bound(order[:end], nodes, gpu_only).value
    y = allocation_curve(arrived[:end], np.minimum(arrived[:end], z), capacity)[100]
    return math.nan if y is None else 100.0 - y

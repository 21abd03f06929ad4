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

Formulation (a relaxation: every real placement maps to a feasible point of the same value).
Node types t (model, CPU, memory, GPU count) with N_t nodes of G_t GPUs; pod shapes s in P with
n_s copies; GPU classes c: the distinct per-GPU milli of the sharing pods, and c = 1000 for a
whole GPU. A GPU pattern p is a multiset of classes, a_pc copies of class c, with
sum_c a_pc * c <= 1000 (one GPU's contents; a whole-GPU pod's GPU is the pattern {1000}).

    maximise   sum_{s,t} x_st * gpu_s                 (gpu_s: the pod's total GPU milli)
    subject to sum_t x_st               <= n_s                       for every shape s
               sum_s x_st * cpu_s       <= N_t * cpu_t               for every type t
               sum_s x_st * mem_s       <= N_t * mem_t               for every type t
               sum_{s in c} k_s x_st    <= sum_p a_pc y_tp           for every type t, class c
               sum_p y_tp               <= N_t * G_t                 for every type t
               x, y >= 0;  x_st = 0 where s cannot run on one node of t (model, size, GPU count)

with k_s = 1 for a sharing pod and its GPU count for a whole-GPU pod. CPU and memory are pooled
per node type, pods may be refused (the online protocol must place a pod that fits), a
multi-GPU pod needs only G_t >= its GPUs, and counts are fractional: all relaxations. CPU-only
pods add no GPU milli, so a maximum never needs them; they are left out. The patterns come from
column generation (pricing: an unbounded knapsack of capacity 1000 per type, by dynamic
programming); Z is the Lagrangian bound z_RMP + sum_t N_t G_t max(0, best reduced cost of t),
valid at every iteration and the LP optimum once no pattern prices out. ``gpu_only`` drops the
CPU and memory rows: what the GPU sizes alone allow.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from suanli.alloc.shapes import MILLI, TaskShape
from suanli.frag.protocol import allocation_curve, submission_order
from suanli.frag.trace import NodeTable, PodTable

NodeType = tuple[str, int, int, int]
"""(model, cpu_milli, memory_mib, gpus) of one node."""
Pattern = tuple[int, tuple[int, ...]]
"""(node type, copies of each GPU class) of one GPU."""


@dataclass(frozen=True)
class Bound:
    """Z (milli-GPU), the restricted LP's value it was taken at, and the LP solves it took."""

    value: float
    restricted: float
    iterations: int


def window_end(arrived: np.ndarray, capacity: int) -> int:
    """Attempts up to the last one whose arrived milli rounds to 100% of ``capacity``."""
    pct = np.floor(arrived * 100.0 / capacity + 0.5).astype(np.int64)
    inside = np.flatnonzero(pct == 100)
    return int(inside[-1]) + 1 if inside.size else 0


def fits_type(shape: TaskShape, node: NodeType) -> bool:
    """Whether one pod of ``shape`` fits one empty node of type ``node``."""
    model, cpu, mem, gpus = node
    if shape.cpu_milli > cpu or shape.memory_mib > mem or shape.num_gpu > gpus:
        return False
    return not shape.gpu_types or model in shape.gpu_types


def best_pattern(values: np.ndarray, sizes: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """Unbounded knapsack of capacity 1000: the best copies of each class for the class values."""
    unit = math.gcd(MILLI, *(int(s) for s in sizes))
    cap, w = MILLI // unit, [int(s) // unit for s in sizes]
    best = [0.0] * (cap + 1)
    take = [-1] * (cap + 1)
    for r in range(1, cap + 1):
        best[r], take[r] = best[r - 1], -1
        for c, wc in enumerate(w):
            if wc <= r and best[r - wc] + float(values[c]) > best[r] + 1e-12:
                best[r], take[r] = best[r - wc] + float(values[c]), c
    counts = [0] * len(sizes)
    r = cap
    while r > 0:
        if take[r] < 0:
            r -= 1
        else:
            counts[take[r]] += 1
            r -= w[take[r]]
    return best[cap], tuple(counts)


class _Relaxation:
    """The LP's fixed part (pods on node types) and its rows; patterns are added by ``solve``."""

    def __init__(self, pods: list[TaskShape], nodes: NodeTable, gpu_only: bool) -> None:
        self.types = Counter(
            zip(nodes.models, nodes.cpu_milli, nodes.memory_mib, nodes.gpus, strict=True)
        )
        self.tlist = sorted(self.types)
        counts = Counter(s for s in pods if s.num_gpu)
        slist = sorted(counts, key=lambda s: (s.cpu_milli, s.memory_mib, s.num_gpu, s.gpu_milli))
        self.sizes = np.array(sorted({s.gpu_milli for s in slist} | {MILLI}), dtype=np.int64)
        cls = {int(c): i for i, c in enumerate(self.sizes)}
        pairs = [
            (i, j) for i, s in enumerate(slist) for j, t in enumerate(self.tlist) if fits_type(s, t)
        ]
        nt, nc, ns = len(self.tlist), len(self.sizes), len(slist)
        self.nc, self.r_slot, self.r_gpu = nc, ns + 2 * nt, ns + 2 * nt + nt * nc
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        for v, (i, j) in enumerate(pairs):
            s = slist[i]
            entries = [(i, 1.0), (self.r_slot + j * nc + cls[s.gpu_milli], float(s.num_gpu))]
            if not gpu_only:
                entries += [(ns + j, float(s.cpu_milli)), (ns + nt + j, float(s.memory_mib))]
            for row, val in entries:
                self.rows.append(row)
                self.cols.append(v)
                self.vals.append(val)
        self.b = np.concatenate(
            [
                [float(counts[s]) for s in slist],
                [float(self.types[t] * t[1]) for t in self.tlist],
                [float(self.types[t] * t[2]) for t in self.tlist],
                np.zeros(nt * nc),
                [float(self.types[t] * t[3]) for t in self.tlist],
            ]
        )
        self.obj = np.array([-float(slist[i].total_gpu_milli) for i, _ in pairs])

    def solve(self, patterns: list[Pattern]) -> tuple[float, np.ndarray]:
        """The restricted LP over ``patterns``: its value and the row duals (>= 0)."""
        rows, cols, vals = list(self.rows), list(self.cols), list(self.vals)
        for q, (j, copies) in enumerate(patterns):
            col = self.obj.size + q
            for c, a in enumerate(copies):
                if a:
                    rows.append(self.r_slot + j * self.nc + c)
                    cols.append(col)
                    vals.append(-float(a))
            rows.append(self.r_gpu + j)
            cols.append(col)
            vals.append(1.0)
        a_ub = coo_matrix((vals, (rows, cols)), shape=(self.b.size, self.obj.size + len(patterns)))
        res = linprog(
            np.concatenate([self.obj, np.zeros(len(patterns))]),
            A_ub=a_ub.tocsr(),
            b_ub=self.b,
            bounds=(0, None),
            method="highs",
        )
        if res.status != 0:
            raise RuntimeError(f"HiGHS could not solve the headroom LP: {res.message}")
        return -float(res.fun), -np.asarray(res.ineqlin.marginals)


def upper_bound(
    pods: list[TaskShape],
    nodes: NodeTable,
    gpu_only: bool = False,
    tol: float = 1e-6,
    max_iterations: int = 500,
) -> Bound:
    """Z >= the most GPU milli any packing of a subset of ``pods`` on ``nodes`` holds."""
    lp = _Relaxation(pods, nodes, gpu_only)
    nc = lp.nc
    patterns: list[Pattern] = [
        (j, tuple(MILLI // int(lp.sizes[c]) if q == c else 0 for q in range(nc)))
        for j in range(len(lp.tlist))
        for c in range(nc)
    ]
    z, gain, it = 0.0, math.inf, 0
    while it < max_iterations:
        it += 1
        z, dual = lp.solve(patterns)
        gain, added = 0.0, 0
        for j, t in enumerate(lp.tlist):
            start = lp.r_slot + j * nc
            value, copies = best_pattern(dual[start : start + nc], lp.sizes)
            rc = value - float(dual[lp.r_gpu + j])
            if rc > tol:
                gain += lp.types[t] * t[3] * rc
                patterns.append((j, copies))
                added += 1
        if not added:
            break
    return Bound(z + gain, z, it)


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

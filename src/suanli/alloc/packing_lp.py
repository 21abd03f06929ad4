"""The GPU packing LP: the most GPU milli a set of tasks can hold on a set of node types.

Node types t (model, CPU, memory, GPU count) with N_t nodes of G_t GPUs; task shapes s with
n_s copies (fractional counts allowed); GPU classes c: the distinct per-GPU milli of the sharing
shapes, and c = 1000 for a whole GPU. A GPU pattern p is a multiset of classes, a_pc copies of
class c, with sum_c a_pc * c <= 1000 (one GPU's contents; a whole-GPU task's GPU is {1000}).

    maximise   sum_{s,t} x_st * gpu_s                 (gpu_s: the shape's total GPU milli)
    subject to sum_t x_st               <= n_s                       for every shape s
               sum_s x_st * cpu_s       <= N_t * cpu_t               for every type t
               sum_s x_st * mem_s       <= N_t * mem_t               for every type t
               sum_{s in c} k_s x_st    <= sum_p a_pc y_tp           for every type t, class c
               sum_p y_tp               <= N_t * G_t                 for every type t
               x, y >= 0;  x_st = 0 where s cannot run on one node of t (model, size, GPU count)

with k_s = 1 for a sharing shape and its GPU count for a whole-GPU shape. It relaxes every real
packing (CPU and memory pooled per type, tasks may be left out, fractional counts), so its value
bounds what any packing holds. CPU-only shapes add no GPU milli and are left out. Patterns come
from column generation: the pricing problem is an unbounded knapsack of capacity 1000 per type
(dynamic programming); the value returned is the Lagrangian bound
z_RMP + sum_t N_t G_t max(0, best reduced cost of t), an upper bound at every iteration and the
LP optimum once no pattern prices out. ``gpu_only`` drops the CPU and memory rows.

The duals of the class rows, pi_tc, are what one more slot of class c on a GPU of type t is
worth at the optimum; ``hole_values`` turns them into V_t(f), the most a hole of f milli is
worth (the knapsack of capacity f). Solved by HiGHS through scipy.optimize.linprog.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from suanli.alloc.policies.base import FloatArray, IntArray
from suanli.alloc.shapes import MILLI, TaskShape

NodeType = tuple[str, int, int, int]
"""(model, cpu_milli, memory_mib, gpus) of one node."""
Pattern = tuple[int, tuple[int, ...]]
"""(node type, copies of each GPU class) of one GPU."""


@dataclass(frozen=True)
class PackingSolution:
    """The LP's bound, the restricted LP's value, its solves, and the class-row duals."""

    value: float
    restricted: float
    iterations: int
    types: tuple[NodeType, ...]
    sizes: IntArray
    class_values: FloatArray
    """(types, classes): pi_tc, the worth of one slot of class c on a GPU of type t."""


def fits_type(shape: TaskShape, node: NodeType) -> bool:
    """Whether one task of ``shape`` fits one empty node of type ``node``."""
    model, cpu, mem, gpus = node
    if shape.cpu_milli > cpu or shape.memory_mib > mem or shape.num_gpu > gpus:
        return False
    return not shape.gpu_types or model in shape.gpu_types


def _knapsack(values: FloatArray, sizes: IntArray, unit: int) -> tuple[list[float], list[int]]:
    """best[r], take[r] for capacities r * unit, r = 0..1000 / unit (unbounded knapsack)."""
    cap, w = MILLI // unit, [int(s) // unit for s in sizes]
    best = [0.0] * (cap + 1)
    take = [-1] * (cap + 1)
    for r in range(1, cap + 1):
        best[r], take[r] = best[r - 1], -1
        for c, wc in enumerate(w):
            if wc <= r and best[r - wc] + float(values[c]) > best[r] + 1e-12:
                best[r], take[r] = best[r - wc] + float(values[c]), c
    return best, take


def best_pattern(values: FloatArray, sizes: IntArray) -> tuple[float, tuple[int, ...]]:
    """Unbounded knapsack of capacity 1000: the best copies of each class for the class values."""
    unit = math.gcd(MILLI, *(int(s) for s in sizes))
    best, take = _knapsack(values, sizes, unit)
    counts = [0] * len(sizes)
    r = MILLI // unit
    while r > 0:
        if take[r] < 0:
            r -= 1
        else:
            counts[take[r]] += 1
            r -= int(sizes[take[r]]) // unit
    return best[-1], tuple(counts)


def hole_values(values: FloatArray, sizes: IntArray) -> FloatArray:
    """V(f), f = 0..1000: the most the classes (worth ``values``) that fit in f milli are worth."""
    unit = math.gcd(MILLI, *(int(s) for s in sizes))
    best, _ = _knapsack(values, sizes, unit)
    return np.array(best, dtype=np.float64)[np.arange(MILLI + 1) // unit]


class _Relaxation:
    """The LP's fixed part (shapes on node types) and its rows; ``solve`` adds the patterns."""

    def __init__(
        self, demand: Mapping[TaskShape, float], types: Mapping[NodeType, int], gpu_only: bool
    ) -> None:
        self.types = dict(types)
        self.tlist = sorted(self.types)
        slist = sorted((s for s in demand if s.num_gpu and demand[s] > 0), key=_shape_key)
        self.sizes: IntArray = np.array(
            sorted({s.gpu_milli for s in slist} | {MILLI}), dtype=np.int64
        )
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
                [float(demand[s]) for s in slist],
                [float(self.types[t] * t[1]) for t in self.tlist],
                [float(self.types[t] * t[2]) for t in self.tlist],
                np.zeros(nt * nc),
                [float(self.types[t] * t[3]) for t in self.tlist],
            ]
        )
        self.obj = np.array([-float(slist[i].total_gpu_milli) for i, _ in pairs])

    def solve(self, patterns: list[Pattern]) -> tuple[float, FloatArray]:
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
            raise RuntimeError(f"HiGHS could not solve the GPU packing LP: {res.message}")
        return -float(res.fun), -np.asarray(res.ineqlin.marginals, dtype=np.float64)


def _shape_key(s: TaskShape) -> tuple[int, int, int, int, tuple[str, ...]]:
    return (s.cpu_milli, s.memory_mib, s.num_gpu, s.gpu_milli, s.gpu_types)


def solve_packing(
    demand: Mapping[TaskShape, float],
    types: Mapping[NodeType, int],
    *,
    gpu_only: bool = False,
    tol: float = 1e-6,
    max_iterations: int = 500,
) -> PackingSolution:
    """Solve the LP above by column generation; ``demand`` maps shapes to (fractional) counts."""
    lp = _Relaxation(demand, types, gpu_only)
    nc, nt = lp.nc, len(lp.tlist)
    patterns: list[Pattern] = [
        (j, tuple(MILLI // int(lp.sizes[c]) if q == c else 0 for q in range(nc)))
        for j in range(nt)
        for c in range(nc)
    ]
    z, gain, it = 0.0, 0.0, 0
    dual: FloatArray = np.zeros(lp.b.size)
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
    values = dual[lp.r_slot : lp.r_slot + nt * nc].reshape(nt, nc)
    return PackingSolution(z + gain, z, it, tuple(lp.tlist), lp.sizes, values)

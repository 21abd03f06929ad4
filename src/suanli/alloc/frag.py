"""Fragmentation of GPU nodes against a target workload (the FGD measure).

Target workload: the typical task shapes m with weights w_m (p_m = w_m / W, W = sum of w_m).
For one node with CPU left c, GPU milli left u_1..u_G and U = sum of u_i, the fragment of the
node for shape m is

* U, when m needs no GPU, cannot use the node's model, or does not fit (fewer than n_m GPUs
  with u_i >= g_m, or c < c_m): no idle GPU milli of the node is usable by m;
* otherwise the sum of u_i over GPUs with u_i < g_m: the GPUs too small for m.

The node's fragmentation is F_n = sum_m p_m * frag_n(m) in milli-GPU, and the cluster's is
sum_n F_n. Everything here is computed in integers as W * F_n, so comparisons are exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suanli.alloc.shapes import TaskShape
from suanli.errors import InputError

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

ShapeKey = tuple[int, int, int, tuple[str, ...]]
"""(cpu_milli, gpu_milli, num_gpu, gpu_types): a shape as the fragmentation measure sees it."""


@dataclass(frozen=True)
class TargetWorkload:
    """Typical task shapes and their integer weights (p_m = weight_m / sum of weights)."""

    shapes: tuple[ShapeKey, ...]
    weights: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.shapes) != len(self.weights) or not self.shapes:
            raise InputError("TargetWorkload", "needs one weight per shape and at least one shape")
        if min(self.weights) <= 0:
            raise InputError("TargetWorkload", "weights must be > 0")

    @classmethod
    def from_shapes(
        cls, shapes: Iterable[TaskShape], coverage: float = 0.95, by_gpu_demand: bool = False
    ) -> TargetWorkload:
        """The most popular shapes that together cover ``coverage`` of the tasks.

        Tasks are grouped by (cpu, gpu_milli, num_gpu, gpu_types) and counted; groups are taken by
        count, largest first (ties: larger cpu, gpu_milli, num_gpu, types first), until the taken
        count reaches ``coverage`` of all tasks. With ``by_gpu_demand`` each task counts with its
        GPU milli (CPU-only tasks count 1), which gives rare multi-GPU shapes the weight their
        demand has on the GPUs.
        """
        counts: Counter[ShapeKey] = Counter()
        for s in shapes:
            key = (s.cpu_milli, s.gpu_milli, s.num_gpu, s.gpu_types)
            counts[key] += max(s.total_gpu_milli, 1) if by_gpu_demand else 1
        if not counts:
            raise InputError("TargetWorkload", "no task shapes to build a target workload from")
        ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        total = sum(counts.values())
        kept: list[tuple[ShapeKey, int]] = []
        taken = 0
        for key, n in ranked:
            kept.append((key, n))
            taken += n
            if taken * 1000 >= round(coverage * 1000) * total:
                break
        return cls(tuple(k for k, _ in kept), tuple(n for _, n in kept))

    def bind(self, models: tuple[str, ...]) -> FragModel:
        """Arrays of this workload for a cluster whose model index i names ``models[i]``."""
        return FragModel(self, models)


class FragModel:
    """A target workload as arrays, scoring batches of node states at once."""

    def __init__(self, workload: TargetWorkload, models: tuple[str, ...]) -> None:
        self.workload = workload
        gpu = [i for i, s in enumerate(workload.shapes) if s[2] > 0]
        cpu_only = [i for i, s in enumerate(workload.shapes) if s[2] == 0]
        w = np.array(workload.weights, dtype=np.int64)
        self.total_weight = int(w.sum())
        self.cpu_only_weight = int(w[cpu_only].sum()) if cpu_only else 0
        self.tc: IntArray = np.array([workload.shapes[i][0] for i in gpu], dtype=np.int64)
        self.tg: IntArray = np.array([workload.shapes[i][1] for i in gpu], dtype=np.int64)
        self.tn: IntArray = np.array([workload.shapes[i][2] for i in gpu], dtype=np.int64)
        self.tw: IntArray = w[gpu]
        access = np.ones((max(len(models), 1), len(gpu)), dtype=np.bool_)
        for j, i in enumerate(gpu):
            types = workload.shapes[i][3]
            if types:
                access[:, j] = [bool(m) and m in types for m in models] if models else False
        self.access: BoolArray = access

    def scaled(self, cpu: IntArray, gpus: IntArray, model: IntArray) -> IntArray:
        """W * F for each node state: ``cpu`` (B,), ``gpus`` (B, G) milli left, ``model`` (B,)."""
        total = gpus.sum(axis=1)
        out = total * self.cpu_only_weight
        if self.tg.size:
            ge = gpus[:, :, None] >= self.tg
            usable = np.einsum("bg,bgm->bm", gpus, ge)
            fits = (ge.sum(axis=1) >= self.tn) & (cpu[:, None] >= self.tc) & self.access[model]
            frag = np.where(fits, total[:, None] - usable, total[:, None])
            out = out + frag @ self.tw
        return np.asarray(out, dtype=np.int64)

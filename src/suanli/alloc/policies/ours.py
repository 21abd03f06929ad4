"""Suanli: FGD with a CPU-balance tie-break (our policy; see docs/fgd.md for the ablation).

FGD scores node n for task t as s(n) = floor(100 * sigmoid((F_n - F_n') / 1000)); the integer
score ties many nodes, and FGD sends the task to the first of them in name order. Suanli keeps
FGD's score as the primary key and orders the tied nodes by how well they keep CPU and GPU in
proportion:

    score(n) = s(n) + w * b(n),   0 <= b(n) <= 1,  w = 0.9 < 1 (b only reorders FGD's ties)

* For a task that uses GPUs, with c' and u' the node's CPU milli and GPU milli left after the
  placement and R = (sum_m p_m cpu_m) / (sum_m p_m gpu_m) the CPU the target workload asks per
  milli-GPU (CPU-only shapes included),

      b(n) = 1 - min(1, |c' - R u'| / (8000 R)),

  the node left closest to the workload's own CPU:GPU ratio wins: its idle GPUs keep the CPU they
  will need, and its idle CPU is not stranded behind busy GPUs.
* For a CPU-only task, b(n) = 1 - U_n / 8000 with U_n the node's idle milli-GPU: the task goes
  where it takes CPU from the fewest idle GPUs.

Ablation (docs/fgd.md): either rule alone is within noise of FGD; together they cut FGD's
unallocated GPUs on every trace. A finer score (exact F_n - F_n', or more sigmoid levels) is worse
than FGD's integer score: the ties are what make FGD pack, so Suanli keeps them and only orders
them.
"""

from __future__ import annotations

import numpy as np

from suanli.alloc.cluster import NodeCluster
from suanli.alloc.frag import TargetWorkload
from suanli.alloc.policies.base import MAX_SPEC_GPU, FloatArray, IntArray
from suanli.alloc.policies.fgd import FGD, pick_gpu, sigmoid_score
from suanli.alloc.shapes import TaskShape


def cpu_per_gpu_milli(workload: TargetWorkload) -> float:
    """R: CPU milli the target workload asks per milli-GPU, weighted by shape popularity."""
    cpu = sum(w * s[0] for s, w in zip(workload.shapes, workload.weights, strict=True))
    gpu = sum(w * s[1] * s[2] for s, w in zip(workload.shapes, workload.weights, strict=True))
    return cpu / gpu if gpu > 0 else 0.0


class Suanli(FGD):
    """FGD's integer score, its ties ordered by CPU:GPU balance (see the module docstring)."""

    name = "Suanli"

    def __init__(
        self,
        target_workload: TargetWorkload,
        *,
        balance: bool = True,
        cpu_rule: bool = True,
        weight: float = 0.9,
        levels: int = 200,
    ) -> None:
        super().__init__(target_workload)
        self.levels = levels
        self.balance = balance
        self.cpu_rule = cpu_rule
        self.weight = weight
        self.ratio = cpu_per_gpu_milli(target_workload)

    def score(
        self, cluster: NodeCluster, shape: TaskShape, nodes: IntArray
    ) -> tuple[FloatArray, IntArray]:
        dec = self.decrease(cluster, shape, nodes)
        base = sigmoid_score(dec, self.frag(cluster).model.total_weight, self.levels)
        if shape.is_sharing:
            base, gpu = pick_gpu(base, cluster.gpu_free[nodes] >= shape.gpu_milli)
        else:
            gpu = np.full(nodes.size, -1, np.int64)
        idle = cluster.gpu_free[nodes].sum(axis=1)
        bonus = np.zeros(nodes.size)
        if shape.num_gpu == 0:
            if self.cpu_rule:
                bonus = 1.0 - idle / MAX_SPEC_GPU
        elif self.balance and self.ratio > 0:
            cpu_left = cluster.cpu_free[nodes] - shape.cpu_milli
            gpu_left = idle - shape.total_gpu_milli
            gap = np.abs(cpu_left - self.ratio * gpu_left) / (self.ratio * MAX_SPEC_GPU)
            bonus = 1.0 - np.minimum(gap, 1.0)
        return base + self.weight * np.clip(bonus, 0.0, 1.0), gpu

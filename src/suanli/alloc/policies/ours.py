"""Suanli: FGD's fragmentation descent, finer, with a CPU:GPU-balance order among near-ties.

Notation as in ``suanli.alloc.policies.fgd``: F_n is node n's expected fragment (milli-GPU) for
the target workload, n' the node after the placement. Suanli scores a feasible node as

    score(n) = floor(L * sigmoid((F_n - F_n') / 1000)) + w * b(n),   L = 200, w = 0.9

so the fragmentation decrease stays the primary key (twice FGD's 100 levels: Δ-bands of about
20 milli-GPU instead of 40) and b in [0, 1] only orders nodes whose primary keys are equal:

* a task that uses GPUs: with c' and u' the CPU milli and GPU milli the node keeps after the
  placement and R = (sum_m p_m cpu_m) / (sum_m p_m num_gpu_m gpu_milli_m) the CPU the target
  workload asks per milli-GPU,

      b(n) = 1 - min(1, |c' - R u'| / (8000 R)):

  the node left nearest the workload's own CPU:GPU ratio wins, so idle GPUs keep the CPU their
  future tasks need and idle CPU is not stranded behind busy GPUs (FGD only sees CPU through
  whether each typical shape still fits);
* a CPU-only task: b(n) = 1 - U_n / 8000 with U_n the node's idle milli-GPU, so CPU is taken
  from the nodes with the fewest idle GPUs.

GPU choice inside the node is FGD's: for a sharing task every GPU that fits is tried and the one
with the best primary key is kept (first index on ties), jointly with the node.

Why this form (ablation in docs/fgd.md): an exact score (L -> infinity) is much worse than FGD;
the integer bands make nodes tie, and the tie order decides how tasks pack. FGD orders ties by
node name (a fixed random order in the experiment, i.e. first fit). Ordering them by CPU balance
and giving CPU-only tasks GPU-poor nodes together cut unallocated GPUs where CPU binds; doubling
the bands helps once the ties are ordered well, and neither rule alone is enough.
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

"""Suanli's own policy (being tuned)."""

from __future__ import annotations

import numpy as np

from suanli.alloc.cluster import NodeCluster
from suanli.alloc.frag import TargetWorkload
from suanli.alloc.policies.base import MAX_SPEC_CPU, MAX_SPEC_GPU, IntArray
from suanli.alloc.policies.fgd import FGD, sigmoid_score
from suanli.alloc.shapes import TaskShape


class Suanli(FGD):
    """FGD variants for the ablation."""

    name = "Suanli"

    def __init__(self, target_workload: TargetWorkload, tie: str = "bestfit") -> None:
        super().__init__(target_workload)
        self.tie = tie

    def score(self, cluster: NodeCluster, shape: TaskShape, nodes: IntArray):  # type: ignore[no-untyped-def]
        dec = self.decrease(cluster, shape, nodes)
        w = self.frag(cluster).model.total_weight
        base = sigmoid_score(dec, w).astype(np.float64)
        cpu_after = (cluster.cpu_free[nodes] - shape.cpu_milli) / MAX_SPEC_CPU
        gpu_after = (cluster.gpu_free[nodes].sum(axis=1) - shape.total_gpu_milli) / MAX_SPEC_GPU
        if self.tie == "bestfit":
            tie = 1.0 - 0.5 * (cpu_after + gpu_after)
        elif self.tie == "gpufit":
            tie = 1.0 - gpu_after
        elif self.tie == "exact":
            tie = None
        else:
            tie = np.zeros(nodes.size)
        if shape.is_sharing:
            valid = cluster.gpu_free[nodes] >= shape.gpu_milli
            if tie is None:
                total = dec / w
            else:
                # within a node prefer the GPU with least milli left after (best fit), then FGD
                after = cluster.gpu_free[nodes] - shape.gpu_milli
                total = base + 0.5 * np.clip(tie, 0, 1)[:, None] + 0.4 * (1 - after / 1000.0)
            total = np.where(valid, total, -np.inf)
            gpu = total.argmax(axis=1)
            return total[np.arange(nodes.size), gpu], gpu.astype(np.int64)
        if tie is None:
            return dec / w, np.full(nodes.size, -1, np.int64)
        return base + 0.9 * np.clip(tie, 0, 1), np.full(nodes.size, -1, np.int64)

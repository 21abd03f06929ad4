"""The paper's baseline policies, scored as the FGD simulator scores them.

All four scoring baselines hand a sharing task the best-fit GPU of the chosen node (least milli
left that fits, first index on ties) and whole-GPU tasks the lowest-index free GPUs.

* DotProd (Tetris): with node free vector f = (cpu_left / 128000, gpu_left / 8000) and demand
  d = (cpu / 128000, gpu_total / 8000), score = floor(100 * (1 - (f . d) / 2)).
* GpuClustering: 25 * (8000 - gpu_left) // 8000 plus 75 if the node hosts only tasks of the
  task's GPU-request class, 50 if it hosts that class among others, 25 if it hosts no GPU task,
  0 otherwise; CPU-only tasks score 0 everywhere.
* GpuPacking: an idle node scores max(33 - free_gpus, free_gpus); a node where the task must use
  k fully free GPUs scores max(50 - k, 33); a task that fits on partly used GPUs scores
  max(100 - (sum of their percent left) // 10, 50); CPU-only tasks score 0 everywhere.
* BestFit: score = floor(100 * (1 - 0.5 (cpu_left - cpu) / 128000 - 0.5 (gpu_left - gpu) / 8000)).
* Random: a uniformly random feasible node, and a random fitting GPU for sharing tasks.
"""

from __future__ import annotations

import numpy as np

from suanli.alloc.cluster import NodeCluster
from suanli.alloc.policies.base import (
    MAX_SPEC_CPU,
    MAX_SPEC_GPU,
    FloatArray,
    IntArray,
    ScoringPolicy,
    best_fit_gpu,
)
from suanli.alloc.shapes import MILLI, TaskShape


def _best_gpu(cluster: NodeCluster, shape: TaskShape, nodes: IntArray) -> IntArray:
    if not shape.is_sharing:
        return np.full(nodes.size, -1, np.int64)
    return best_fit_gpu(cluster.gpu_free[nodes], shape.gpu_milli)


class DotProd(ScoringPolicy):
    """Prefer the node whose free vector is least aligned with the demand (Tetris)."""

    name = "DotProd"

    def score(
        self, cluster: NodeCluster, shape: TaskShape, nodes: IntArray
    ) -> tuple[IntArray | FloatArray, IntArray]:
        f_cpu = cluster.cpu_free[nodes] / MAX_SPEC_CPU
        f_gpu = cluster.gpu_free[nodes].sum(axis=1) / MAX_SPEC_GPU
        dot = f_cpu * (shape.cpu_milli / MAX_SPEC_CPU) + f_gpu * (
            shape.total_gpu_milli / MAX_SPEC_GPU
        )
        score = np.trunc(100.0 * (1.0 - dot / 2)).astype(np.int64)
        return score, _best_gpu(cluster, shape, nodes)


class GpuClustering(ScoringPolicy):
    """Keep tasks of one GPU-request class together on the same nodes."""

    name = "GpuClustering"

    def score(
        self, cluster: NodeCluster, shape: TaskShape, nodes: IntArray
    ) -> tuple[IntArray | FloatArray, IntArray]:
        if shape.num_gpu == 0:
            return np.zeros(nodes.size, np.int64), _best_gpu(cluster, shape, nodes)
        left = cluster.gpu_free[nodes].sum(axis=1)
        base = 25 * (MAX_SPEC_GPU - left) // MAX_SPEC_GPU
        aff = cluster.affinity[nodes]
        same = aff[:, shape.affinity] > 0
        classes = (aff > 0).sum(axis=1)
        bonus = np.where(same, np.where(classes == 1, 75, 50), np.where(classes == 0, 25, 0))
        return (base + bonus).astype(np.int64), _best_gpu(cluster, shape, nodes)


class GpuPacking(ScoringPolicy):
    """Prefer partly used GPUs, then used nodes, then idle nodes."""

    name = "GpuPacking"

    def score(
        self, cluster: NodeCluster, shape: TaskShape, nodes: IntArray
    ) -> tuple[IntArray | FloatArray, IntArray]:
        gpu = _best_gpu(cluster, shape, nodes)
        if shape.num_gpu == 0:
            return np.zeros(nodes.size, np.int64), gpu
        gpus = cluster.gpu_free[nodes]
        full = (gpus == MILLI).sum(axis=1)
        idle = full == cluster.gpu_count[nodes]
        idle_score = np.maximum(33 - full, full)
        if shape.is_sharing:
            left = gpus[np.arange(nodes.size), gpu]
            uses_full = left == MILLI
            shared = np.maximum(100 - (left * 100 // MILLI) // 10, 50)
            used_score = np.where(uses_full, max(50 - 1, 33), shared)
        else:
            used_score = np.full(nodes.size, max(50 - shape.num_gpu, 33), np.int64)
        return np.where(idle, idle_score, used_score).astype(np.int64), gpu


class BestFit(ScoringPolicy):
    """Leave the least weighted CPU and GPU behind on the chosen node."""

    name = "BestFit"

    def score(
        self, cluster: NodeCluster, shape: TaskShape, nodes: IntArray
    ) -> tuple[IntArray | FloatArray, IntArray]:
        cpu_left = (cluster.cpu_free[nodes] - shape.cpu_milli).astype(np.float64)
        gpu_left = (cluster.gpu_free[nodes].sum(axis=1) - shape.total_gpu_milli).astype(np.float64)
        waste = cpu_left / MAX_SPEC_CPU * 0.5 + gpu_left / MAX_SPEC_GPU * 0.5
        score = np.trunc((1.0 - waste) * 100).astype(np.int64)
        return score, _best_gpu(cluster, shape, nodes)


class RandomFit:
    """A uniformly random feasible node; a random fitting GPU for sharing tasks."""

    name = "Random"

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)

    def choose(self, cluster: NodeCluster, shape: TaskShape) -> tuple[int, tuple[int, ...]] | None:
        """Draw a node among the feasible ones, in node order."""
        ok = np.flatnonzero(cluster.feasible(shape))
        if ok.size == 0:
            return None
        node = int(ok[self._rng.integers(ok.size)])
        if shape.num_gpu == 0:
            return node, ()
        if shape.is_sharing:
            fits = np.flatnonzero(cluster.gpu_free[node] >= shape.gpu_milli)
            return node, (int(fits[self._rng.integers(fits.size)]),)
        return node, cluster.exclusive_gpus(node, shape.num_gpu)

"""FGD: Fragmentation Gradient Descent (Weng et al., USENIX ATC 2023).

Place each task where the expected fragmentation of the target workload grows least. For a
feasible node n with fragmentation F_n (see ``suanli.alloc.frag``) and the node n' it would
become, the score is

    score(n) = floor(100 * sigmoid((F_n - F_n') / 1000))

A sharing task tries every GPU i with enough milli left (n' takes the task's CPU and g milli of
GPU i) and keeps the best GPU, first index on ties; other tasks take their GPUs from the fullest
GPUs that fit ("Sub"; for whole GPUs, any fully free ones). The integer truncation makes ties
common; they go to the smallest node name.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from suanli.alloc.cluster import NodeCluster
from suanli.alloc.frag import FragModel, TargetWorkload
from suanli.alloc.policies.base import FloatArray, IntArray, ScoringPolicy
from suanli.alloc.shapes import MILLI, TaskShape


def sigmoid_score(delta_scaled: IntArray, weight: int, levels: int = 100) -> IntArray:
    """floor(levels * sigmoid(delta / 1000)) for delta = delta_scaled / weight milli-GPU."""
    x = (delta_scaled / weight) / 1000.0
    return np.trunc(1.0 / (1.0 + np.exp(-x)) * float(levels)).astype(np.int64)


def hypothetical(
    cluster: NodeCluster, shape: TaskShape, nodes: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """CPU, GPU milli and models of ``nodes`` after a non-sharing task takes its share there."""
    cpu = cluster.cpu_free[nodes] - shape.cpu_milli
    gpus = cluster.gpu_free[nodes].copy()
    if shape.num_gpu:
        full = gpus == MILLI
        taken = full & (np.cumsum(full, axis=1) <= shape.num_gpu)
        gpus[taken] = 0
    return cpu, gpus, cluster.model_index[nodes]


def sharing_hypotheticals(
    cluster: NodeCluster, shape: TaskShape, nodes: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """For each node and each GPU slot i, the node after the task takes GPU i: (D*G) states."""
    gpus = cluster.gpu_free[nodes]
    d, g = gpus.shape
    hyp = np.repeat(gpus[:, None, :], g, axis=1)
    diag = np.arange(g)
    hyp[:, diag, diag] -= shape.gpu_milli
    cpu = np.repeat(cluster.cpu_free[nodes] - shape.cpu_milli, g)
    model = np.repeat(cluster.model_index[nodes], g)
    return cpu, hyp.reshape(d * g, g), model


def pick_gpu(scores: IntArray, valid: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
    """Per row, the best score over the valid GPU slots and its slot (first on ties)."""
    masked = np.where(valid, scores, np.iinfo(np.int64).min)
    gpu = masked.argmax(axis=1)
    return masked[np.arange(scores.shape[0]), gpu], gpu.astype(np.int64)


class FragCache:
    """W * F_n of every node for one target workload, refreshed for nodes that changed."""

    def __init__(self, cluster: NodeCluster, workload: TargetWorkload) -> None:
        self.model: FragModel = workload.bind(cluster.models)
        self.values: IntArray = np.zeros(cluster.size, np.int64)
        self.seen: IntArray = np.full(cluster.size, -1, np.int64)

    def refresh(self, cluster: NodeCluster) -> IntArray:
        """Bring every node up to date and return the cached W * F_n."""
        stale = np.flatnonzero(self.seen != cluster.version)
        if stale.size:
            self.values[stale] = self.model.scaled(
                cluster.cpu_free[stale], cluster.gpu_free[stale], cluster.model_index[stale]
            )
            self.seen[stale] = cluster.version[stale]
        return self.values


class FGD(ScoringPolicy):
    """Fragmentation Gradient Descent, exactly as the paper's simulator scores it."""

    name = "FGD"

    def __init__(self, target_workload: TargetWorkload) -> None:
        super().__init__()
        self.target_workload = target_workload
        self._frag: FragCache | None = None

    def reset(self) -> None:
        """Forget cached scores and fragmentation."""
        super().reset()
        self._frag = None

    def frag(self, cluster: NodeCluster) -> FragCache:
        """The fragmentation cache for ``cluster``, made on first use."""
        if self._frag is None:
            self._frag = FragCache(cluster, self.target_workload)
        return self._frag

    def decrease(self, cluster: NodeCluster, shape: TaskShape, nodes: IntArray) -> IntArray:
        """W * (F_n - F_n') per node, or per (node, GPU slot) for sharing tasks (D, G)."""
        cache = self.frag(cluster)
        before = cache.refresh(cluster)[nodes]
        if shape.is_sharing:
            after = cache.model.scaled(*sharing_hypotheticals(cluster, shape, nodes)).reshape(
                nodes.size, -1
            )
            return before[:, None] - after
        return before - cache.model.scaled(*hypothetical(cluster, shape, nodes))

    def score(
        self, cluster: NodeCluster, shape: TaskShape, nodes: IntArray
    ) -> tuple[IntArray | FloatArray, IntArray]:
        scores = sigmoid_score(
            self.decrease(cluster, shape, nodes), self.frag(cluster).model.total_weight
        )
        if shape.is_sharing:
            return pick_gpu(scores, cluster.gpu_free[nodes] >= shape.gpu_milli)
        return scores, np.full(nodes.size, -1, np.int64)

"""What every node-scoring policy shares: a per-shape score cache and the exact node choice.

Each policy gives every feasible node an integer score for a task shape (higher is better) and,
for GPU-sharing tasks, the GPU it would use there. The chosen node is the highest score, ties
broken by the lexicographically smallest node name, as the FGD paper's simulator does.

Scores depend on a node's own state only, so they are cached per (shape, node) and recomputed
for the nodes whose ``version`` changed since: one placement dirties one node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suanli.alloc.cluster import NodeCluster
from suanli.alloc.shapes import MILLI, TaskShape

IntArray = npt.NDArray[np.int64]

MAX_SPEC_CPU = 128_000
"""Milli-CPU of the largest node, used by the baselines to normalise CPU."""
MAX_SPEC_GPU = 8_000
"""Milli-GPU of the largest node (8 GPUs), used by the baselines to normalise GPU."""


FloatArray = npt.NDArray[np.float64]


@dataclass
class _Entry:
    score: FloatArray
    gpu: IntArray
    seen: IntArray


def best_fit_gpu(gpus: IntArray, need: int) -> IntArray:
    """Per row, the GPU with the least milli left that still fits ``need`` (first on ties)."""
    masked = np.where(gpus >= need, gpus, MILLI + 1)
    return np.asarray(masked.argmin(axis=1), dtype=np.int64)


def best_node(score: FloatArray, name_rank: IntArray) -> int | None:
    """Index of the highest score, ties to the smallest node name; None when all are -inf."""
    top = score.max()
    if top == -np.inf:
        return None
    tied = np.flatnonzero(score == top)
    return int(tied[name_rank[tied].argmin()]) if tied.size > 1 else int(tied[0])


class ScoringPolicy:
    """Base of the node-scoring policies: subclasses implement ``score``."""

    name = "scoring"

    def __init__(self) -> None:
        self._cluster: NodeCluster | None = None
        self._entries: dict[TaskShape, _Entry] = {}

    def reset(self) -> None:
        """Forget every cached score (the next call rescores all nodes)."""
        self._cluster = None
        self._entries = {}

    def score(
        self, cluster: NodeCluster, shape: TaskShape, nodes: IntArray
    ) -> tuple[IntArray | FloatArray, IntArray]:
        """Scores of the feasible ``nodes`` and the GPU each would use (-1: not sharing)."""
        raise NotImplementedError

    def choose(self, cluster: NodeCluster, shape: TaskShape) -> tuple[int, tuple[int, ...]] | None:
        """Highest score, then smallest node name; None when no node fits."""
        if cluster is not self._cluster:
            self.reset()
            self._cluster = cluster
        n = cluster.size
        entry = self._entries.get(shape)
        if entry is None:
            entry = _Entry(np.full(n, -np.inf), np.full(n, -1, np.int64), np.full(n, -1, np.int64))
            self._entries[shape] = entry
        dirty = np.flatnonzero(entry.seen != cluster.version)
        if dirty.size:
            ok = cluster.feasible(shape, dirty)
            nodes = dirty[ok]
            score = np.full(dirty.size, -np.inf)
            if nodes.size:
                scores, gpu = self.score(cluster, shape, nodes)
                score[ok] = scores
                entry.gpu[nodes] = gpu
            entry.score[dirty] = score
            entry.seen[dirty] = cluster.version[dirty]
        best = best_node(entry.score, cluster.name_rank)
        if best is None:
            return None
        return best, self.gpus_for(cluster, shape, best, int(entry.gpu[best]))

    def cached_scores(self, shape: TaskShape) -> tuple[FloatArray, IntArray]:
        """Scores and GPUs of every node for ``shape`` as of the last ``choose`` of that shape."""
        entry = self._entries[shape]
        return entry.score, entry.gpu

    def gpus_for(
        self, cluster: NodeCluster, shape: TaskShape, node: int, gpu: int
    ) -> tuple[int, ...]:
        """GPU ids on the chosen node: the scored GPU for sharing tasks, else lowest free ones."""
        if shape.num_gpu == 0:
            return ()
        if shape.is_sharing:
            return (gpu,)
        return cluster.exclusive_gpus(node, shape.num_gpu)

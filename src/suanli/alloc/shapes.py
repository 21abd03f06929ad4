"""Task shapes and allocations: the values the node-level allocator trades in.

A task shape is what one pod asks of one node: CPU (milli-cores), memory (MiB) and GPUs, either a
fraction of one GPU (``num_gpu == 1``, ``0 < gpu_milli < 1000``), whole GPUs (``gpu_milli == 1000``)
or none. ``gpu_types`` lists the GPU models it may run on (empty: any model).
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.errors import InputError

MILLI = 1000
"""Milli-units in one GPU."""


@dataclass(frozen=True, slots=True)
class TaskShape:
    """What one task asks of one node; immutable and hashable (policies cache by it)."""

    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.cpu_milli < 0 or self.memory_mib < 0:
            raise InputError("TaskShape", "cpu_milli and memory_mib must be >= 0")
        if self.num_gpu < 0 or not 0 <= self.gpu_milli <= MILLI:
            raise InputError("TaskShape", "need num_gpu >= 0 and 0 <= gpu_milli <= 1000")
        if (self.num_gpu == 0) != (self.gpu_milli == 0):
            raise InputError(
                "TaskShape",
                f"num_gpu={self.num_gpu} with gpu_milli={self.gpu_milli}",
                "a CPU-only task has num_gpu == 0 and gpu_milli == 0",
            )
        if self.num_gpu > 1 and self.gpu_milli != MILLI:
            raise InputError(
                "TaskShape",
                f"num_gpu={self.num_gpu} with gpu_milli={self.gpu_milli}",
                "only single-GPU tasks may take a fraction of a GPU",
            )

    @property
    def is_sharing(self) -> bool:
        """True for a task that takes a fraction of one GPU."""
        return self.num_gpu == 1 and self.gpu_milli < MILLI

    @property
    def total_gpu_milli(self) -> int:
        """GPU milli over all the task's GPUs."""
        return self.num_gpu * self.gpu_milli

    @property
    def affinity(self) -> int:
        """GPU-request class used by GpuClustering: -1 none, 0 shared, k for k whole GPUs."""
        if self.num_gpu == 0:
            return -1
        return 0 if self.is_sharing else self.num_gpu


@dataclass(frozen=True, slots=True)
class Allocation:
    """One applied placement: enough to undo it exactly with ``NodeCluster.release``."""

    node: int
    gpu_ids: tuple[int, ...]
    gpu_milli: tuple[int, ...]
    shape: TaskShape

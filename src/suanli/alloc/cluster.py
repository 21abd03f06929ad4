"""The node-level allocator: free CPU, memory and per-GPU milli of every node, in arrays.

State, for N nodes with at most G GPUs each (slots past a node's GPU count hold 0 free milli,
so no task ever fits them):

* ``cpu_free[n]``, ``mem_free[n]``: milli-cores and MiB left on node n;
* ``gpu_free[n, i]``: milli-GPU left on GPU i of node n (0..1000);
* ``affinity[n, a]``: tasks of GPU-request class a on node n (0 shared, k for k whole GPUs);
* ``version[n]``: bumped on every change to node n, so policies can cache per-node scores.

A task fits node n when CPU and memory suffice, the node's model is allowed, and at least
``num_gpu`` GPUs have ``gpu_free >= gpu_milli``. Placement asks a policy for (node, GPUs) and
applies it; release adds back exactly what the allocation took.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from suanli.alloc.frag import TargetWorkload
from suanli.alloc.shapes import MILLI, Allocation, TaskShape
from suanli.errors import InputError, SchedulingError

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class Policy(Protocol):
    """A placement policy: picks a node and GPUs for a task, or None when nothing fits."""

    name: str

    def choose(self, cluster: NodeCluster, shape: TaskShape) -> tuple[int, tuple[int, ...]] | None:
        """Return (node index, GPU indices) for ``shape`` without changing ``cluster``."""
        ...


class NodeCluster:
    """Nodes with CPU, memory and GPUs; placement, release and all-or-nothing gangs."""

    def __init__(
        self,
        names: Sequence[str],
        cpu_milli: Sequence[int] | IntArray,
        memory_mib: Sequence[int] | IntArray,
        gpus: Sequence[int] | IntArray,
        gpu_models: Sequence[str],
    ) -> None:
        n = len(names)
        if not (len(cpu_milli) == len(memory_mib) == len(gpus) == len(gpu_models) == n):
            raise InputError(
                "NodeCluster", "names, cpu_milli, memory_mib, gpus, gpu_models differ in length"
            )
        if len(set(names)) != n:
            raise InputError("NodeCluster", "node names must be unique")
        self.names: tuple[str, ...] = tuple(names)
        self.cpu_capacity: IntArray = np.asarray(cpu_milli, dtype=np.int64).copy()
        self.mem_capacity: IntArray = np.asarray(memory_mib, dtype=np.int64).copy()
        self.gpu_count: IntArray = np.asarray(gpus, dtype=np.int64).copy()
        if n and (
            self.cpu_capacity.min() < 0 or self.mem_capacity.min() < 0 or self.gpu_count.min() < 0
        ):
            raise InputError("NodeCluster", "capacities must be >= 0")
        models = sorted({m for m in gpu_models})
        self.models: tuple[str, ...] = tuple(models)
        index = {m: i for i, m in enumerate(models)}
        self.model_index: IntArray = np.array([index[m] for m in gpu_models], dtype=np.int64)
        self.max_gpus = int(self.gpu_count.max()) if n else 0
        width = max(self.max_gpus, 1)
        slots = np.arange(width)[None, :] < self.gpu_count[:, None]
        self.gpu_exists: BoolArray = slots
        self.cpu_free: IntArray = self.cpu_capacity.copy()
        self.mem_free: IntArray = self.mem_capacity.copy()
        self.gpu_free: IntArray = np.where(slots, MILLI, 0).astype(np.int64)
        self.affinity: IntArray = np.zeros((n, width + 1), dtype=np.int64)
        self.version: IntArray = np.zeros(n, dtype=np.int64)
        order = sorted(range(n), key=lambda i: self.names[i])
        self.name_rank: IntArray = np.empty(n, dtype=np.int64)
        self.name_rank[order] = np.arange(n)
        self._type_ok: dict[tuple[str, ...], BoolArray] = {}
        self._clock = 0

    # -- queries ---------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of nodes."""
        return len(self.names)

    def type_ok(self, gpu_types: tuple[str, ...]) -> BoolArray:
        """Nodes whose GPU model a task restricted to ``gpu_types`` may use (all when empty)."""
        ok = self._type_ok.get(gpu_types)
        if ok is None:
            if gpu_types:
                allowed = [i for i, m in enumerate(self.models) if m and m in gpu_types]
                ok = np.isin(self.model_index, allowed) & (self.gpu_count > 0)
            else:
                ok = np.ones(self.size, dtype=np.bool_)
            ok.setflags(write=False)
            self._type_ok[gpu_types] = ok
        return ok

    def feasible(self, shape: TaskShape, nodes: IntArray | None = None) -> BoolArray:
        """Which nodes (all, or the given indices) can take ``shape`` now."""
        sel = slice(None) if nodes is None else nodes
        ok = (self.cpu_free[sel] >= shape.cpu_milli) & (self.mem_free[sel] >= shape.memory_mib)
        if shape.num_gpu > 0:
            fit = (self.gpu_free[sel] >= shape.gpu_milli).sum(axis=1) >= shape.num_gpu
            ok &= fit & self.type_ok(shape.gpu_types)[sel]
        elif shape.gpu_types:
            ok &= self.type_ok(shape.gpu_types)[sel]
        return ok

    def free_gpu_milli(self) -> int:
        """Milli-GPU left over the whole cluster."""
        return int(self.gpu_free.sum())

    def total_gpu_milli(self) -> int:
        """Milli-GPU capacity of the whole cluster."""
        return int(self.gpu_count.sum()) * MILLI

    def used_gpu_milli(self) -> int:
        """Milli-GPU allocated over the whole cluster."""
        return self.total_gpu_milli() - self.free_gpu_milli()

    def fragmentation(self, target_workload: TargetWorkload) -> float:
        """Cluster fragment in milli-GPU: sum over nodes of F_n for ``target_workload``."""
        model = target_workload.bind(self.models)
        return (
            float(model.scaled(self.cpu_free, self.gpu_free, self.model_index).sum())
            / model.total_weight
        )

    def snapshot(self) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Copies of the mutable state (CPU, memory, GPU milli, affinity) for comparisons."""
        return (
            self.cpu_free.copy(),
            self.mem_free.copy(),
            self.gpu_free.copy(),
            self.affinity.copy(),
        )

    def exclusive_gpus(self, node: int, count: int) -> tuple[int, ...]:
        """The ``count`` lowest-index fully free GPUs of ``node`` (whole GPUs are handed out so)."""
        free = np.flatnonzero(self.gpu_free[node] == MILLI)[:count]
        return tuple(int(i) for i in free)

    # -- changes ---------------------------------------------------------------------------

    def place(self, shape: TaskShape, policy: Policy) -> Allocation | None:
        """Let ``policy`` choose a node and GPUs for ``shape`` and apply it; None: nothing fits."""
        choice = policy.choose(self, shape)
        if choice is None:
            return None
        node, gpu_ids = choice
        return self.allocate(shape, node, gpu_ids)

    def place_gang(self, shapes: Sequence[TaskShape], policy: Policy) -> list[Allocation] | None:
        """Place every shape or none: on the first failure, release what was placed, in reverse."""
        done: list[Allocation] = []
        for shape in shapes:
            alloc = self.place(shape, policy)
            if alloc is None:
                for prior in reversed(done):
                    self.release(prior)
                return None
            done.append(alloc)
        return done

    def allocate(self, shape: TaskShape, node: int, gpu_ids: Sequence[int]) -> Allocation:
        """Apply ``shape`` on ``node`` using exactly ``gpu_ids``; raises if it does not fit."""
        ids = tuple(int(i) for i in gpu_ids)
        if not 0 <= node < self.size:
            raise SchedulingError(f"node index {node} out of range 0..{self.size - 1}")
        if len(ids) != shape.num_gpu or len(set(ids)) != len(ids):
            raise SchedulingError(f"task needs {shape.num_gpu} distinct GPUs, got {ids}")
        if (
            int(self.cpu_free[node]) < shape.cpu_milli
            or int(self.mem_free[node]) < shape.memory_mib
            or (shape.gpu_types and not bool(self.type_ok(shape.gpu_types)[node]))
        ):
            raise SchedulingError(f"task does not fit node {self.names[node]}")
        for i in ids:
            if not (0 <= i < self.gpu_count[node]) or self.gpu_free[node, i] < shape.gpu_milli:
                raise SchedulingError(
                    f"GPU {i} of node {self.names[node]} cannot take {shape.gpu_milli} milli"
                )
        self.cpu_free[node] -= shape.cpu_milli
        self.mem_free[node] -= shape.memory_mib
        for i in ids:
            self.gpu_free[node, i] -= shape.gpu_milli
        if shape.num_gpu:
            self.affinity[node, shape.affinity] += 1
        self._touch(node)
        return Allocation(node, ids, (shape.gpu_milli,) * len(ids), shape)

    def release(self, allocation: Allocation) -> None:
        """Give back what ``allocation`` took; raises if that would exceed a capacity."""
        node, shape = allocation.node, allocation.shape
        if self.cpu_free[node] + shape.cpu_milli > self.cpu_capacity[node] or (
            self.mem_free[node] + shape.memory_mib > self.mem_capacity[node]
        ):
            raise SchedulingError(f"release exceeds the capacity of node {self.names[node]}")
        for i, milli in zip(allocation.gpu_ids, allocation.gpu_milli, strict=True):
            if self.gpu_free[node, i] + milli > MILLI:
                raise SchedulingError(f"release exceeds GPU {i} of node {self.names[node]}")
        if shape.num_gpu and self.affinity[node, shape.affinity] <= 0:
            raise SchedulingError(f"no such task on node {self.names[node]}")
        self.cpu_free[node] += shape.cpu_milli
        self.mem_free[node] += shape.memory_mib
        for i, milli in zip(allocation.gpu_ids, allocation.gpu_milli, strict=True):
            self.gpu_free[node, i] += milli
        if shape.num_gpu:
            self.affinity[node, shape.affinity] -= 1
        self._touch(node)

    def _touch(self, node: int) -> None:
        self._clock += 1
        self.version[node] = self._clock

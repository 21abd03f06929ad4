"""Free capacity of every pool in the network, node by node.

Each pool is a `suanli.alloc.NodeCluster` (its nodes' CPU, memory and per-GPU free milli), so
a share of one GPU, whole GPUs and multi-node gangs are placed on real nodes by the
fragmentation-aware allocator, not counted against a pool total. A job becomes task shapes on
a pool with ``per_node`` accelerators per node:

* ``a < 1``            one task taking ``a`` of one GPU;
* ``1 <= a <= per``    one task of ``ceil(a)`` whole GPUs;
* ``a > per``          ``floor(a / per)`` full-node tasks plus one task for the remainder,
                        placed all or nothing (a gang).

CPU and memory go with the GPUs in proportion to the node's own ratio.

A split gang (`suanli.core.options.Option.parts`) is placed all or nothing over its parts: a
trial placement on every part's pool, undone when any part does not fit (`allocate_option`);
its `Grant` holds one grant per part and is released whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from suanli.alloc import Allocation, NodeCluster, TargetWorkload, TaskShape
from suanli.alloc import make_policy as make_node_policy
from suanli.alloc.cluster import Policy as NodePolicy
from suanli.core.options import Option
from suanli.model import Job, Pool, Scenario

MILLI = 1000

#: prior of job sizes (accelerators: weight) for the allocator's target workload (an
#: estimate shaped like the PAI and Acme traces: many shares of one GPU and single GPUs,
#: fewer 2-, 4- and 8-GPU tasks)
SIZE_PRIOR: dict[float, int] = {0.25: 20, 0.5: 20, 1.0: 25, 2.0: 12, 4.0: 8, 8.0: 15}


@dataclass(frozen=True, slots=True)
class Grant:
    """Capacity held by one running job; give it back with `NetworkCapacity.release`."""

    site_idx: int
    pool: int
    milli: int
    allocations: tuple[Allocation, ...]
    #: a split gang's grant per part (then ``allocations`` is empty, ``milli`` their sum)
    parts: tuple[Grant, ...] = ()

    def pieces(self) -> tuple[Grant, ...]:
        """The single-pool grants it consists of (itself, unless split)."""
        return self.parts or (self,)

    def milli_on(self, site_idx: int, pool: int) -> int:
        """Milli-accelerators it holds on one pool."""
        return sum(g.milli for g in self.pieces() if (g.site_idx, g.pool) == (site_idx, pool))


def to_milli(accelerators: float) -> int:
    """Accelerators in milli-accelerators (a share of one GPU counts as its fraction; at
    least 1)."""
    return max(1, round(accelerators * MILLI))


def job_milli(job: Job) -> int:
    """A job's demand in milli-accelerators (a share of one GPU counts as its fraction)."""
    return to_milli(job.accelerators)


def task_shapes(accelerators: float, pool: Pool) -> list[TaskShape]:
    """The node tasks of a job of ``accelerators`` on ``pool`` (see the module docstring)."""
    per = pool.per_node
    cpu = pool.cpu_per_node * MILLI // per
    mem = pool.memory_gb_per_node * 1024 // per
    if accelerators < 1:
        milli = to_milli(accelerators)
        share = milli / MILLI
        return [TaskShape(math.ceil(cpu * share), math.ceil(mem * share), 1, milli)]
    whole = math.ceil(accelerators - 1e-9)
    full, rest = divmod(whole, per)
    shapes = [TaskShape(cpu * per, mem * per, per, MILLI)] * full
    if rest:
        shapes.append(TaskShape(cpu * rest, mem * rest, rest, MILLI))
    return shapes


def gang_fits(gpu_free: np.ndarray, shapes: Sequence[TaskShape], per_node: int) -> bool:
    """Whether a gang of whole-GPU ``shapes`` (full-node tasks, then at most one smaller
    remainder, as `task_shapes` makes them) fits nodes whose free milli per GPU are
    ``gpu_free`` (nodes x GPUs): the judgement of `NetworkCapacity.fits` on any array, so a
    trial (room that stopping some jobs would make) can be judged before they are stopped."""
    whole = (gpu_free == MILLI).sum(axis=1)
    idle = int((whole == per_node).sum())
    full = sum(1 for s in shapes if s.num_gpu == per_node)
    if full == len(shapes) or idle < full:
        return idle >= full
    if idle > full:
        return True
    return int((whole >= shapes[-1].num_gpu).sum()) > full


class NetworkCapacity:
    """Every pool's nodes, with the node-level policy that places tasks on them."""

    def __init__(self, scenario: Scenario, node_policy: str = "fgd") -> None:
        self.site_ids = scenario.site_ids
        self.clusters: list[list[NodeCluster]] = []
        self.policies: list[list[NodePolicy]] = []
        self.pools: list[tuple[Pool, ...]] = []
        self.free_milli: list[list[int]] = []
        self.total_milli: list[list[int]] = []
        self._shapes: dict[tuple[int, int, float], list[TaskShape]] = {}
        self._summaries: dict[tuple[int, int], tuple[int, int, int]] = {}
        for sid in self.site_ids:
            site = scenario.sites[sid]
            clusters, policies = [], []
            for k, pool in enumerate(site.pools):
                n = pool.nodes
                clusters.append(
                    NodeCluster(
                        names=[f"{sid}/{k}/{i:05d}" for i in range(n)],
                        cpu_milli=[pool.cpu_per_node * MILLI] * n,
                        memory_mib=[pool.memory_gb_per_node * 1024] * n,
                        gpus=[pool.per_node] * n,
                        gpu_models=[pool.accelerator] * n,
                    )
                )
                prior = [s for a, w in SIZE_PRIOR.items() for s in task_shapes(a, pool) * w]
                policies.append(
                    make_node_policy(node_policy, target_workload=TargetWorkload.from_shapes(prior))
                )
            self.clusters.append(clusters)
            self.policies.append(policies)
            self.pools.append(site.pools)
            self.total_milli.append([p.accelerators * MILLI for p in site.pools])
            self.free_milli.append([p.accelerators * MILLI for p in site.pools])

    def shapes(self, site_idx: int, pool: int, job: Job) -> list[TaskShape]:
        return self._shapes_of(site_idx, pool, job.accelerators)

    def _shapes_of(self, site_idx: int, pool: int, accelerators: float) -> list[TaskShape]:
        key = (site_idx, pool, accelerators)
        shapes = self._shapes.get(key)
        if shapes is None:
            shapes = self._shapes[key] = task_shapes(accelerators, self.pools[site_idx][pool])
        return shapes

    def _summary(self, site_idx: int, pool: int) -> tuple[int, int, int]:
        """(most whole free GPUs on one node, most free milli on one GPU, fully free nodes),
        recomputed only after the pool changed."""
        key = (site_idx, pool)
        summary = self._summaries.get(key)
        if summary is None:
            free = self.clusters[site_idx][pool].gpu_free
            whole = (free == MILLI).sum(axis=1)
            per = self.pools[site_idx][pool].per_node
            summary = (int(whole.max()), int(free.max()), int((whole == per).sum()))
            self._summaries[key] = summary
        return summary

    def fits(self, site_idx: int, pool: int, job: Job) -> bool:
        """Whether the job's tasks would fit the pool's nodes now, judged on GPUs alone (CPU
        and memory go with GPUs in proportion); `allocate` is the exact test."""
        return self._fits(site_idx, pool, job.accelerators)

    def fits_option(self, option: Option, job: Job) -> bool:
        """`fits` for an option: every part of a split gang fits its pool now."""
        if not option.parts:
            return self._fits(option.site_idx, option.pool, job.accelerators)
        return all(self._fits(p.site_idx, p.pool, p.accelerators) for p in option.parts)

    def _fits(self, site_idx: int, pool: int, accelerators: float) -> bool:
        if self.free_milli[site_idx][pool] < to_milli(accelerators):
            return False
        max_whole, max_share, idle_nodes = self._summary(site_idx, pool)
        shapes = self._shapes_of(site_idx, pool, accelerators)
        if len(shapes) == 1:
            shape = shapes[0]
            if shape.is_sharing:
                return max_share >= shape.gpu_milli
            return max_whole >= shape.num_gpu
        # a gang: full-node tasks on idle nodes, the remainder on one more node
        per = self.pools[site_idx][pool].per_node
        full = sum(1 for s in shapes if s.num_gpu == per)
        if full == len(shapes) or idle_nodes < full:
            return idle_nodes >= full
        if idle_nodes > full:
            return True
        rest = shapes[-1].num_gpu
        free = self.clusters[site_idx][pool].gpu_free
        return int(((free == MILLI).sum(axis=1) >= rest).sum()) > full

    def allocate(self, site_idx: int, pool: int, job: Job) -> Grant | None:
        """Place the job's tasks on the pool's nodes (all or nothing)."""
        return self._allocate(site_idx, pool, job.accelerators)

    def allocate_option(self, option: Option, job: Job) -> Grant | None:
        """Place the job as ``option`` says: on its pool, or a split gang on every part's pool
        (all or nothing: the parts placed so far are released when one does not fit)."""
        if not option.parts:
            return self._allocate(option.site_idx, option.pool, job.accelerators)
        placed: list[Grant] = []
        for part in option.parts:
            grant = self._allocate(part.site_idx, part.pool, part.accelerators)
            if grant is None:
                for g in reversed(placed):
                    self.release(g)
                return None
            placed.append(grant)
        lead = placed[[p.accelerators for p in option.parts].index(max(
            p.accelerators for p in option.parts))]  # fmt: skip
        return Grant(lead.site_idx, lead.pool, sum(g.milli for g in placed), (), tuple(placed))

    def _allocate(self, site_idx: int, pool: int, accelerators: float) -> Grant | None:
        need = to_milli(accelerators)
        if self.free_milli[site_idx][pool] < need:
            return None
        cluster = self.clusters[site_idx][pool]
        placed = cluster.place_gang(
            self._shapes_of(site_idx, pool, accelerators), self.policies[site_idx][pool]
        )
        if placed is None:
            return None
        self._summaries.pop((site_idx, pool), None)
        taken = sum(a.shape.total_gpu_milli for a in placed)
        self.free_milli[site_idx][pool] -= taken
        return Grant(site_idx, pool, taken, tuple(placed))

    def release(self, grant: Grant) -> None:
        """Give a grant's capacity back (every part of a split gang's)."""
        if grant.parts:
            for g in reversed(grant.parts):
                self.release(g)
            return
        cluster = self.clusters[grant.site_idx][grant.pool]
        for a in reversed(grant.allocations):
            cluster.release(a)
        self._summaries.pop((grant.site_idx, grant.pool), None)
        self.free_milli[grant.site_idx][grant.pool] += grant.milli

    def free(self, site_idx: int, pool: int) -> float:
        return self.free_milli[site_idx][pool] / MILLI

    def total(self, site_idx: int, pool: int) -> float:
        return self.total_milli[site_idx][pool] / MILLI

    def fragmentation(self, site_idx: int) -> tuple[float, float]:
        """(fragmented, idle) accelerators at a site for its pools' target workloads: idle
        GPU capacity that the typical task shapes could not use (PROTOCOL.md's measure)."""
        frag = idle = 0.0
        for cluster, policy in zip(self.clusters[site_idx], self.policies[site_idx], strict=True):
            target = getattr(policy, "target_workload", None)
            idle += cluster.free_gpu_milli() / MILLI
            if target is not None:
                frag += cluster.fragmentation(target) / MILLI
        return frag, idle

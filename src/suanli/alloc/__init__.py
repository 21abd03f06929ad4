"""The pure node-level allocator: nodes, GPUs, task shapes, placement policies.

No I/O, no printing, no clock: the simulator and the ``suanli frag`` experiment drive it.
"""

from suanli.alloc.cluster import NodeCluster, Policy
from suanli.alloc.frag import FragModel, TargetWorkload
from suanli.alloc.policies import (
    FGD,
    POLICY_NAMES,
    BestFit,
    DotProd,
    GpuClustering,
    GpuPacking,
    RandomFit,
    Suanli,
    make_policy,
)
from suanli.alloc.shapes import MILLI, Allocation, TaskShape

__all__ = [
    "FGD",
    "MILLI",
    "POLICY_NAMES",
    "Allocation",
    "BestFit",
    "DotProd",
    "FragModel",
    "GpuClustering",
    "GpuPacking",
    "NodeCluster",
    "Policy",
    "RandomFit",
    "Suanli",
    "TargetWorkload",
    "TaskShape",
    "make_policy",
]

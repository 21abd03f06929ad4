"""Placement policies, constructible by name with ``make_policy``."""

from __future__ import annotations

from suanli.alloc.cluster import Policy
from suanli.alloc.frag import TargetWorkload
from suanli.alloc.policies.base import ScoringPolicy
from suanli.alloc.policies.baselines import BestFit, DotProd, GpuClustering, GpuPacking, RandomFit
from suanli.alloc.policies.fgd import FGD
from suanli.alloc.policies.ours import Suanli
from suanli.errors import InputError, UnknownNameError

POLICY_NAMES: tuple[str, ...] = (
    "random",
    "dotprod",
    "gpuclustering",
    "gpupacking",
    "bestfit",
    "fgd",
    "suanli",
)
"""Every policy name ``make_policy`` knows, in the paper's order, ours last."""


def make_policy(
    name: str, *, target_workload: TargetWorkload | None = None, seed: int = 0
) -> Policy:
    """A fresh policy by (case-insensitive) name; FGD and suanli need ``target_workload``."""
    key = name.strip().lower()
    if key == "random":
        return RandomFit(seed)
    if key == "dotprod":
        return DotProd()
    if key == "gpuclustering":
        return GpuClustering()
    if key == "gpupacking":
        return GpuPacking()
    if key == "bestfit":
        return BestFit()
    if key in ("fgd", "suanli"):
        if target_workload is None:
            raise InputError(
                f"policy {name!r}",
                "needs a target workload",
                "pass target_workload=TargetWorkload.from_shapes(...)",
            )
        return FGD(target_workload) if key == "fgd" else Suanli(target_workload)
    raise UnknownNameError(
        f"policy {name!r}", "unknown policy", f"choose one of {', '.join(POLICY_NAMES)}"
    )


__all__ = [
    "FGD",
    "POLICY_NAMES",
    "BestFit",
    "DotProd",
    "GpuClustering",
    "GpuPacking",
    "RandomFit",
    "ScoringPolicy",
    "Suanli",
    "make_policy",
]

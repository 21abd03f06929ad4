"""Cross-site placement policies, by name."""

from __future__ import annotations

from collections.abc import Callable

from suanli.core.policies.baselines import CheapestPolicy, GreenestPolicy, NearestPolicy
from suanli.core.policies.queueing import (
    FifoPolicy,
    KueuePolicy,
    QueueingPolicy,
    SlurmPolicy,
    SuanliQueuePolicy,
)
from suanli.core.policies.suanli import SuanliPolicy
from suanli.core.scheduler import Policy
from suanli.errors import UnknownNameError

POLICIES: dict[str, Callable[[], Policy]] = {
    "nearest": NearestPolicy,
    "cheapest": CheapestPolicy,
    "greenest": GreenestPolicy,
    "suanli": SuanliPolicy,
    # multi-tenant queueing (issue 4)
    "fifo": FifoPolicy,
    "slurm": SlurmPolicy,
    "kueue": KueuePolicy,
    "suanli-queue": SuanliQueuePolicy,
}


def is_queueing(name: str) -> bool:
    """Whether the policy ``name`` is one of the multi-tenant queueing policies."""
    factory = POLICIES.get(name.lower())
    return isinstance(factory, type) and issubclass(factory, QueueingPolicy)


def make_policy(name: str) -> Policy:
    """A fresh policy by name (``nearest``, ``cheapest``, ``greenest``, ``suanli``)."""
    try:
        return POLICIES[name.lower()]()
    except KeyError:
        raise UnknownNameError(
            "--policy", f"unknown policy {name!r}", f"choose from {', '.join(POLICIES)}"
        ) from None


__all__ = [
    "POLICIES",
    "CheapestPolicy",
    "FifoPolicy",
    "GreenestPolicy",
    "KueuePolicy",
    "NearestPolicy",
    "SlurmPolicy",
    "SuanliPolicy",
    "SuanliQueuePolicy",
    "is_queueing",
    "make_policy",
]

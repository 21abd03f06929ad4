"""Multi-tenant queueing policies: ``fifo``, ``slurm``, ``kueue`` and ``suanli-queue``."""

from suanli.core.policies.queueing.base import QueueingPolicy, default_config
from suanli.core.policies.queueing.baselines import FifoPolicy, KueuePolicy, SlurmPolicy
from suanli.core.policies.queueing.suanli import SuanliQueuePolicy

__all__ = [
    "FifoPolicy",
    "KueuePolicy",
    "QueueingPolicy",
    "SlurmPolicy",
    "SuanliQueuePolicy",
    "default_config",
]

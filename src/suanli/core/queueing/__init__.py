"""Multi-tenant queueing: quotas and cohorts, fair share, preemption (pure, no I/O)."""

from suanli.core.queueing.fairshare import DecayedUsage, jain_index, rule_dominant_share
from suanli.core.queueing.preemption import Outcome, Request, Running, select_victims
from suanli.core.queueing.quota import (
    ClusterQueue,
    Cohort,
    FlavorQuota,
    PriorityClass,
    QueueingConfig,
    QuotaBook,
    parse_queueing,
)

__all__ = [
    "ClusterQueue",
    "Cohort",
    "DecayedUsage",
    "FlavorQuota",
    "Outcome",
    "PriorityClass",
    "QueueingConfig",
    "QuotaBook",
    "Request",
    "Running",
    "jain_index",
    "parse_queueing",
    "rule_dominant_share",
    "select_victims",
]

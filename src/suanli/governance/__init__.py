"""Governance: policy as code (YAML PolicySets), a rules engine for the scheduler, approvals.

    >>> from suanli.governance import DEFAULT_POLICY, GovernanceEngine
    >>> from suanli.scenario import load_scenario
    >>> scenario = load_scenario("china-edwc")
    >>> engine = GovernanceEngine.from_file(DEFAULT_POLICY, scenario)  # a SiteRules

docs/governance.md describes the rule kinds, their sources and how the scheduler uses them.
"""

from pathlib import Path

from suanli.governance.approvals import (
    ApprovalBook,
    ApprovalError,
    ApprovalRequest,
    ApprovalStatus,
    Decision,
    SimulatedRegulator,
)
from suanli.governance.attributes import JobAttributes
from suanli.governance.engine import GovernanceEngine
from suanli.governance.power import PowerBook
from suanli.governance.registry import FiledModel, ModelRegistry
from suanli.governance.schema import PolicyError, PolicySet, load_policy, parse_policy

#: the policy set shipped with Suanli (``suanli/data/policies/default.yaml``)
DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "data" / "policies" / "default.yaml"

__all__ = [
    "DEFAULT_POLICY",
    "ApprovalBook",
    "ApprovalError",
    "ApprovalRequest",
    "ApprovalStatus",
    "Decision",
    "FiledModel",
    "GovernanceEngine",
    "JobAttributes",
    "ModelRegistry",
    "PolicyError",
    "PolicySet",
    "PowerBook",
    "SimulatedRegulator",
    "load_policy",
    "parse_policy",
]

"""Placements re-checked against a policy set, independently of the scheduler that made them.

`policy_violations` replays a run's placements in start order through a FRESH engine compiled
from the same policy set (so cumulative counters such as cross-border export volumes are those
the scheduler should have seen), with the run's approval decisions, and counts every placement
the engine would not allow, or that uses an accelerator type an allow-list forbids there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from suanli.core.rules import Verdict
from suanli.core.scheduler import Placement
from suanli.governance.approvals import ApprovalBook
from suanli.governance.engine import GovernanceEngine
from suanli.governance.schema import PolicySet
from suanli.model import Scenario


def policy_violations(
    placements: Iterable[Placement],
    policy: PolicySet,
    scenario: Scenario,
    approvals: ApprovalBook | None = None,
) -> dict[str, int]:
    """Rule id -> how many ``placements`` break it (empty: none does)."""
    fresh = GovernanceEngine(policy, scenario, approvals=approvals or ApprovalBook())
    found: Counter[str] = Counter()
    # a stable sort: placements at the same instant keep the order they were made in
    for p in sorted(placements, key=lambda p: p.start_h):
        for sid in p.option.sites:  # a split gang: every part's site
            site = scenario.sites[sid]
            verdict = fresh.check(p.job, site, scenario)
            if verdict.verdict is not Verdict.ALLOW:
                found[verdict.rule_id] += 1
            else:
                limit = fresh.type_limits(p.job).get(site.id)
                if limit is not None and p.option.accelerator not in limit[0]:
                    found[limit[1]] += 1
            fresh.record_placement(p.job, site.id)
    return dict(sorted(found.items()))

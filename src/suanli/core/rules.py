"""The rules hook: may this job run at this site at all?

`feasibility` asks a `SiteRules` about every (job, site) pair before placement. Until the
governance engine (a `SiteRules` built from a PolicySet) is configured, `INTERIM_RULES` holds
one rule everywhere: personal, important and core data are processed only in their own
jurisdiction.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from suanli.model import RESTRICTED_CLASSES, Job, Scenario, Site


class Verdict(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    NEEDS_APPROVAL = "needs-approval"


@dataclass(frozen=True, slots=True)
class RuleResult:
    verdict: Verdict
    rule_id: str = ""
    message: str = ""

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.message}" if self.rule_id else self.message


ALLOW = RuleResult(Verdict.ALLOW)


class SiteRules(Protocol):
    """Evaluates whether ``job`` may run at ``site``; the first non-allow result wins.

    Rules may also define ``cache_key(job) -> Hashable | None``: the job fields (beyond its
    data's home and class, types, size, users and SLO) their verdicts depend on, so that
    verdicts can be reused for jobs with equal keys; ``None`` asks for a fresh evaluation.
    """

    def check(self, job: Job, site: Site, scenario: Scenario) -> RuleResult: ...


def residency_reason(job: Job, site_jurisdiction: str, home_jurisdiction: str) -> str | None:
    """The interim data-residency rule: restricted data stays in its own jurisdiction."""
    if job.data.classification in RESTRICTED_CLASSES and site_jurisdiction != home_jurisdiction:
        return (
            f"{job.data.classification.value} data homed in {home_jurisdiction} "
            f"may not be processed in {site_jurisdiction}"
        )
    return None


class InterimRules:
    """The one rule that holds before a policy set is configured."""

    def cache_key(self, job: Job) -> Hashable:
        # the verdict depends on the data's home and class only, already in the base key
        return ()

    def check(self, job: Job, site: Site, scenario: Scenario) -> RuleResult:
        home = scenario.site(job.data.site).jurisdiction
        reason = residency_reason(job, site.jurisdiction, home)
        if reason:
            return RuleResult(Verdict.DENY, "residency", reason)
        return ALLOW


INTERIM_RULES = InterimRules()

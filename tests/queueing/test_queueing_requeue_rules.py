"""A preempted job's restart is a new admission: rules whose verdicts depend on state are asked
again (without it, `kueue` broke the export-volume rule on the national week: issue 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable

from builders import job, scenario, site
from suanli.core.clock import ManualClock
from suanli.core.policies import make_policy
from suanli.core.rules import ALLOW, RuleResult, Verdict
from suanli.core.scheduler import Scheduler
from suanli.model import Job, Scenario, Sector, Site, Tenant
from suanli.sim.engine import run


class OneStartOfB1PerSite:
    """A stateful rule: job b1 may start at most once at site a (think of an export budget
    that its first run used up); every other start is allowed."""

    def __init__(self) -> None:
        self.starts = 0

    def cache_key(self, job: Job) -> Hashable | None:
        return None if job.id == "b1" else ()  # b1's verdict depends on state

    def check(self, job: Job, site: Site, scenario: Scenario) -> RuleResult:
        if job.id == "b1" and self.starts >= 1:
            return RuleResult(Verdict.DENY, "budget", "b1 used its budget at this site")
        return ALLOW

    def record_placement(self, job: Job, site_id: str) -> None:
        if job.id == "b1":
            self.starts += 1


def test_a_preempted_job_is_checked_against_stateful_rules_again_before_it_restarts() -> None:
    base = scenario(site("a"))
    ts = {t: Tenant(t, t.upper(), Sector.FINANCE, "CN", quota={"A100": 4}) for t in ("ta", "tb")}
    s = dataclasses.replace(base, tenants=ts)
    rules = OneStartOfB1PerSite()
    clock = ManualClock()
    sched = Scheduler(s, make_policy("kueue"), clock, rules=rules)
    jobs = [
        job("b1", arrival=0.0, gpus=8, duration=4.0).copy(tenant="tb"),  # borrows ta's quota
        job("a1", arrival=1.0, gpus=4, duration=1.0).copy(tenant="ta"),  # reclaims it
    ]
    trace = run(sched, clock, jobs, record_events=True)
    assert [p.placement.job.id for p in getattr(sched, "preemptions", [])] == ["b1"]
    # b1 started once; its restart was asked again and refused, not started past the rule
    assert [p.job.id for p in trace.placements].count("b1") == 1
    assert "b1" in {r.job.id for r in trace.rejections}

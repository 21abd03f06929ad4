"""The dry run: what a new policy set would change for a workload, without running it.

For every job, feasibility (`suanli.core.options.feasibility`) under the current rules and
under the new ones, then each site a job may use is asked for its verdict. A job is

* ``denied``          placeable before, no site may take it now;
* ``needs-approval``  no site allows it now, but some would after an approval;
* ``moved``           its cheapest site changes (total cost at its earliest start);
* ``restricted``      it loses sites but its cheapest site stays;
* ``widened``         it only gains sites.

Stateful rules are evaluated as at the start of the run: export counters are not advanced
(no job is placed), so cumulative thresholds show the first export that would cross them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from suanli.core.cost import CostModel
from suanli.core.options import Feasibility, Option, feasibility
from suanli.core.rules import SiteRules, Verdict
from suanli.model import Job


class Change(StrEnum):
    DENIED = "denied"
    NEEDS_APPROVAL = "needs-approval"
    MOVED = "moved"
    RESTRICTED = "restricted"
    WIDENED = "widened"


@dataclass(frozen=True, slots=True)
class JobChange:
    job: str
    tenant: str
    change: Change
    #: sites usable before and not now, with the reason now
    lost: dict[str, str]
    gained: tuple[str, ...]
    #: sites that would take it after an approval, with the reason
    approval: dict[str, str]
    #: the cheapest site before and after (None: none)
    before: str | None
    after: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "tenant": self.tenant,
            "change": self.change.value,
            "lost": self.lost,
            "gained": list(self.gained),
            "approval": self.approval,
            "before": self.before,
            "after": self.after,
        }


@dataclass(slots=True)
class PolicyDiff:
    jobs: int
    changes: list[JobChange] = field(default_factory=list)

    def count(self) -> dict[Change, int]:
        c = Counter(ch.change for ch in self.changes)
        return {k: c.get(k, 0) for k in Change}

    def by_rule(self) -> dict[str, int]:
        """How many (job, site) pairs each rule newly excludes (or sends to approval)."""
        c: Counter[str] = Counter()
        for ch in self.changes:
            for why in (*ch.lost.values(), *ch.approval.values()):
                c[why.split(":", 1)[0]] += 1
        return dict(c.most_common())

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "counts": {k.value: v for k, v in self.count().items()},
            "byRule": self.by_rule(),
            "changes": [ch.to_json() for ch in self.changes],
        }


def _allowed(
    job: Job, f: Feasibility, rules: SiteRules, model: CostModel
) -> tuple[list[Option], dict[str, str]]:
    """(options at sites the rules allow outright, approval site -> reason)."""
    scenario = model.scenario
    verdicts = {}
    for sid in {o.site for o in f.options}:
        verdicts[sid] = rules.check(job, scenario.sites[sid], scenario)
    options = [o for o in f.options if verdicts[o.site].verdict is Verdict.ALLOW]
    approval = {sid: str(v) for sid, v in verdicts.items() if v.verdict is Verdict.NEEDS_APPROVAL}
    return options, approval


def _cheapest(job: Job, options: list[Option], model: CostModel) -> str | None:
    best, site = float("inf"), None
    for o in options:
        yuan = model.breakdown(job, o.site, o.accelerator, o.ready_h).total_yuan
        if yuan < best:
            best, site = yuan, o.site
    return site


def compare_rules(
    jobs: Sequence[Job],
    model: CostModel,
    before: SiteRules,
    after: SiteRules,
    progress: Callable[[int, int], None] | None = None,
) -> PolicyDiff:
    """Every job whose choice of sites differs between ``before`` and ``after``."""
    diff = PolicyDiff(len(jobs))
    for n, job in enumerate(jobs):
        if progress and n % 2000 == 0:
            progress(n, len(jobs))
        fb, fa = feasibility(job, model, before), feasibility(job, model, after)
        ob, _ = _allowed(job, fb, before, model)
        oa, approval = _allowed(job, fa, after, model)
        sb, sa = {o.site for o in ob}, {o.site for o in oa}
        if sb == sa and not approval:
            continue
        lost = {s: fa.excluded.get(s, approval.get(s, "")) for s in sorted(sb - sa)}
        gained = tuple(sorted(sa - sb))
        cb = _cheapest(job, ob, model) if ob else None
        ca = _cheapest(job, oa, model) if oa else None
        if not oa and approval:
            kind = Change.NEEDS_APPROVAL
        elif not oa:
            if not ob:
                continue  # rejected either way
            kind = Change.DENIED
        elif cb != ca:
            kind = Change.MOVED
        elif lost:
            kind = Change.RESTRICTED
        elif gained:
            kind = Change.WIDENED
        else:
            continue  # same sites; approvals only for sites it would not need
        diff.changes.append(JobChange(job.id, job.tenant, kind, lost, gained, approval, cb, ca))
    if progress:
        progress(len(jobs), len(jobs))
    return diff

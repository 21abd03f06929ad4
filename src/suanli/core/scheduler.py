"""The scheduling cycle, written once for both clocks.

A cycle runs whenever something happened (arrivals, completions, a wake-up the policy asked
for). Its phases:

1. **intake**   new arrivals get their feasible options (`suanli.core.options`); a job with
                none is rejected with every site's reason. A job whose only options need a
                regulator's approval (rules with ``approvals_needed``) is held in
                `pending_approval` until `approve` (it is taken in again, its feasibility
                recomputed) or `deny` (rejected: every site's reason); where some sites are
                plain allow, the approval-needing ones are dropped;
2. **nominate** the policy orders its waiting jobs and nominates (job, option) pairs;
3. **admit**    each nomination is committed on the live capacity at once (so the next one
                sees it); one that does not fit stays with the policy, which keeps it waiting.
                A job whose verdicts depend on state (``rules.cache_key(job) is None``, e.g.
                cumulative export volumes) is re-checked against the rules for the chosen
                site first; if the site is no longer allowed the job is withdrawn from the
                policy and taken in again (phase 1, feasibility recomputed) in the same
                cycle. Every start is reported to ``rules.record_placement``;
4. **requeue**  the policy keeps what did not start and names its next wake-up time.

Between cycles a waiting job may be withdrawn (`Scheduler.withdraw`: cancelled while it
waits): the policy drops it and everything it holds for it at once (a plan's reserved
capacity, a quota hold, a reservation; `Policy.withdraw`), so that it neither blocks nor
counts for anyone; the next cycle reports it (``CycleOutcome.withdrawn``).

A split gang (an option with ``parts``, offered only to a scheduler built with
``cross_site=True``: the simulator) is admitted on every part at once or not at all
(`NetworkCapacity.allocate_option`); every part's site is re-checked, recorded and named in
the placement's reason; finish and preemption release every part.

The scheduler reads time only from the injected clock and does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from suanli.core.capacity import Grant, NetworkCapacity
from suanli.core.clock import Clock
from suanli.core.cost import CostBreakdown, CostModel
from suanli.core.options import Feasibility, FeasibilityCheck, Option
from suanli.core.rules import INTERIM_RULES, RuleResult, SiteRules, Verdict
from suanli.errors import SchedulingError
from suanli.model import Job, Scenario


@dataclass(slots=True)
class PendingJob:
    """A job waiting to start, with what the policy needs to decide about it."""

    job: Job
    options: list[Option]
    excluded: dict[str, str]
    #: the policy's plan for it: an option and a start time (None: not planned)
    plan: Option | None = None
    plan_start: float = 0.0
    #: why it is still waiting (for explanations and the service's job view)
    waiting_reason: str = ""
    #: its rule verdicts depend on state: re-check the chosen site at admission
    recheck: bool = False

    @property
    def latest_start(self) -> float:
        """The last start that still meets the deadline on the fastest option."""
        if self.job.deadline_h is None:
            return float("inf")
        return self.job.deadline_h - min(o.runtime_h for o in self.options)


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a job went where it went: the policy's reason, the sites it could not use (with
    each reason) and the options it could; `considered` prices the latter on demand."""

    policy: str
    reason: str
    excluded: dict[str, str]
    options: tuple[Option, ...]
    decided_h: float

    def considered(self, cost: CostModel, job: Job) -> dict[str, float]:
        """Estimated total cost (yuan) of the best option per feasible site, had the job
        started there at the decision time (or when its data arrived)."""
        best: dict[str, float] = {}
        for o in self.options:
            c, _ = cost.option_breakdown(job, o, max(self.decided_h, o.ready_h))
            where = "+".join(o.sites)  # a split gang: its sites together
            best[where] = min(best.get(where, float("inf")), round(c.total_yuan, 2))
        return best


@dataclass(frozen=True, slots=True)
class Placement:
    job: Job
    option: Option
    start_h: float
    end_h: float
    cost: CostBreakdown
    explanation: Explanation
    grant: Grant
    #: a split gang's cost per part, in the order of ``option.parts`` (empty: not split)
    part_costs: tuple[CostBreakdown, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    job: Job
    time_h: float
    reasons: dict[str, str]
    cost: CostBreakdown


@dataclass(slots=True)
class PendingApproval:
    """A job every feasible site of which needs a regulator's approval: held until decided."""

    job: Job
    #: site id -> why it needs approval ("rule: message")
    reasons: dict[str, str]
    #: the rule ids asking for approval
    rules: tuple[str, ...]
    #: sites the job may not use at all, with each reason
    excluded: dict[str, str]
    since_h: float


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A waiting job taken back from the scheduler (`Scheduler.withdraw`): when, and why."""

    job_id: str
    time_h: float
    reason: str


@dataclass(slots=True)
class CycleOutcome:
    started: list[Placement] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    #: jobs held for approval in this cycle
    held: list[PendingApproval] = field(default_factory=list)
    #: jobs withdrawn while they waited, since the cycle before
    withdrawn: list[Withdrawal] = field(default_factory=list)
    #: when the policy wants the next cycle even if nothing happens (None: not needed)
    wake_h: float | None = None


class CycleContext:
    """What a policy sees and may do during one cycle."""

    def __init__(self, scheduler: Scheduler, now: float) -> None:
        self.now = now
        self.cost = scheduler.cost
        self.capacity = scheduler.capacity
        self._scheduler = scheduler

    def try_start(self, pending: PendingJob, option: Option, reason: str) -> bool:
        """Phase 3: commit ``pending`` on ``option`` now. False: it does not fit, keep it.
        True: it is no longer the policy's (it started, or the rules withdrew it: the
        scheduler takes it in again)."""
        return self._scheduler._admit(pending, option, self.now, reason)


class Policy:
    """A cross-site placement policy. Subclasses decide; the scheduler commits."""

    name = "policy"

    def bind(self, scheduler: Scheduler) -> None:
        """Called once before the first cycle."""
        self.scheduler = scheduler

    def on_arrival(self, pending: PendingJob, ctx: CycleContext) -> None:
        raise NotImplementedError

    def on_finish(self, placement: Placement, ctx: CycleContext) -> None:
        """A job released its capacity."""

    def nominate(self, ctx: CycleContext) -> float | None:
        """Phases 2-4: start what should start now (via ``ctx.try_start``); return the next
        wake-up time, if any."""
        raise NotImplementedError

    def withdraw(self, job_id: str) -> bool:
        """Drop the waiting job ``job_id`` (cancelled while it waits; called between cycles)
        with everything the policy holds for it: its plan's reserved capacity, its queue
        position, a quota hold, a reservation that others may not delay. It must not start
        afterwards, nor count in `waiting`. False: the policy does not hold it waiting (it
        never arrived, it runs, it ended)."""
        raise NotImplementedError

    def waiting(self) -> int:
        """How many jobs the policy holds."""
        raise NotImplementedError


class Scheduler:
    """One scheduler core: the same code in the simulator and in the service."""

    def __init__(
        self,
        scenario: Scenario,
        policy: Policy,
        clock: Clock,
        cost: CostModel | None = None,
        feasibility_cache: dict[str, Feasibility] | None = None,
        rules: SiteRules = INTERIM_RULES,
        *,
        cross_site: bool = False,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.cost = cost or CostModel(scenario)
        self.capacity = NetworkCapacity(scenario)
        self.policy = policy
        self.rules = rules
        #: offer split gangs across the sites of a hub (the simulator; never the service)
        self._check = FeasibilityCheck(self.cost, rules, cross_site=cross_site)
        #: feasibility is static per job: a driver replaying one workload under several
        #: policies may share it. With stateful rules, share what `FeasibilityCheck.prepare`
        #: returns: the sites whose verdicts depend on state (``unresolved``) are resolved at
        #: intake with this scheduler's rules, and such jobs are re-checked at admission
        self._feasibility = feasibility_cache if feasibility_cache is not None else {}
        self.running: dict[str, Placement] = {}
        #: jobs waiting for a regulator's decision, by job id
        self.pending_approval: dict[str, PendingApproval] = {}
        self._key_of: Callable[[Job], object] | None = getattr(rules, "cache_key", None)
        self._approvals_needed: Callable[[Job], Mapping[str, RuleResult]] | None = getattr(
            rules, "approvals_needed", None
        )
        self._record: Callable[[Job, str], None] | None = getattr(rules, "record_placement", None)
        self._decide: Callable[..., Any] | None = getattr(rules, "decide", None)
        self._type_limits: Callable[[Job], Mapping[str, tuple[frozenset[str], str]]] | None = (
            getattr(rules, "type_limits", None)
        )
        self._arrivals: list[Job] = []
        #: ids of jobs taken in again after an approval: their feasibility is recomputed
        self._fresh: set[str] = set()
        self._denied: list[Rejection] = []
        #: jobs the admission re-check took back from the policy in this cycle
        self._withdrawn: list[Job] = []
        #: jobs withdrawn since the last cycle (`withdraw`), reported by the next
        self._withdrawals: list[Withdrawal] = []
        self._finished: list[Placement] = []
        self._outcome = CycleOutcome()
        self.on_event: Callable[[str, Job, str], None] | None = None
        policy.bind(self)

    # -- inputs -------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """A job arrived; it is considered in the next cycle."""
        self._arrivals.append(job)

    def finish(self, job_id: str) -> Placement:
        """A running job ended; its capacity is released in the next cycle."""
        try:
            placement = self.running.pop(job_id)
        except KeyError:
            raise SchedulingError(f"job {job_id!r} is not running") from None
        self.capacity.release(placement.grant)
        self._finished.append(placement)
        return placement

    def approve(self, job_id: str, evidence: str) -> None:
        """A regulator approved the held job (``evidence``: the reference); it is taken in
        again in the next cycle with its feasibility recomputed."""
        held = self._take_held(job_id)
        if self._decide is not None:
            self._decide(job_id, True, evidence, self.clock.now())
        self._fresh.add(job_id)
        self._arrivals.append(held.job)

    def deny(self, job_id: str, reason: str) -> None:
        """A regulator denied the held job: it is rejected in the next cycle, with every
        site's reason."""
        held = self._take_held(job_id)
        now = self.clock.now()
        if self._decide is not None:
            self._decide(job_id, False, reason, now)
        reasons = dict(held.excluded)
        for site, why in held.reasons.items():
            reasons[site] = f"{why}; approval denied: {reason}"
        self._denied.append(Rejection(held.job, now, reasons, self.cost.rejection(held.job)))

    def withdraw(self, job_id: str, reason: str) -> bool:
        """Take back a job that waits (one cancelled before it started): the policy drops it
        and what it holds for it at once (`Policy.withdraw`), so it never starts and blocks no
        one; the next cycle reports it in ``withdrawn``. Also a job held for approval, and one
        submitted since the last cycle. False: the scheduler does not hold it waiting (it is
        unknown, it ended, or it runs: a running job is stopped by its driver, then
        `finish`-ed)."""
        if job_id in self.running:
            return False
        if self.pending_approval.pop(job_id, None) is not None:
            found = True
        else:
            at = next((i for i, j in enumerate(self._arrivals) if j.id == job_id), None)
            if at is not None:
                del self._arrivals[at]
            found = at is not None or self.policy.withdraw(job_id)
        if not found:
            return False
        self._fresh.discard(job_id)
        self._withdrawals.append(Withdrawal(job_id, self.clock.now(), reason))
        return True

    def _take_held(self, job_id: str) -> PendingApproval:
        try:
            return self.pending_approval.pop(job_id)
        except KeyError:
            raise SchedulingError(f"job {job_id!r} is not waiting for an approval") from None

    # -- the cycle ----------------------------------------------------------------------

    def cycle(self) -> CycleOutcome:
        now = self.clock.now()
        self._outcome = out = CycleOutcome()
        ctx = CycleContext(self, now)
        for placement in self._finished:
            self.policy.on_finish(placement, ctx)
        self._finished.clear()
        # 1. intake
        out.rejected.extend(self._denied)
        self._denied.clear()
        out.withdrawn, self._withdrawals = self._withdrawals, []
        arrivals, self._arrivals = self._arrivals, []
        for job in arrivals:
            pending = self._intake(job, now, out)
            if pending is not None:
                self.policy.on_arrival(pending, ctx)
        # 2-4. nominate, admit, requeue
        out.wake_h = self.policy.nominate(ctx)
        # jobs withdrawn at admission: 1-4 again for them (the rules' state only tightens)
        while self._withdrawn:
            again, self._withdrawn = self._withdrawn, []
            for job in again:
                pending = self._intake(job, now, out)
                if pending is not None:
                    self.policy.on_arrival(pending, ctx)
            out.wake_h = self.policy.nominate(ctx)
        return out

    def _intake(self, job: Job, now: float, out: CycleOutcome) -> PendingJob | None:
        """Phase 1 for one job: its options, or a rejection, or a hold for approval."""
        fresh = job.id in self._fresh
        if fresh:
            self._fresh.discard(job.id)
        cached = self._feasibility.get(job.id)
        if cached is not None and fresh and not cached.unresolved:
            cached = None
        # a shared feasibility holds for any state of the rules (see __init__): its sites
        # whose verdicts depend on state are resolved now, with this run's rules
        f = self._check.resolve(cached, job) if cached is not None else self._check(job)
        if not f.options:
            out.rejected.append(Rejection(job, now, dict(f.excluded), self.cost.rejection(job)))
            return None
        recheck = (
            (cached is None or bool(cached.unresolved))
            and self._key_of is not None
            and self._key_of(job) is None
        )
        options, excluded = f.options, f.excluded
        limits = self._type_limits(job) if self._type_limits is not None else {}
        if limits:
            options, excluded = _limit_types(options, excluded, limits)
            if not options:
                out.rejected.append(Rejection(job, now, excluded, self.cost.rejection(job)))
                return None
        need = self._approvals_needed(job) if self._approvals_needed is not None else {}
        if need:
            feasible = {s for o in options for s in o.sites}
            asking = {s: str(r) for s, r in need.items() if s in feasible}
            allowed = [o for o in options if not any(s in asking for s in o.sites)]
            if not allowed:
                rules = tuple(dict.fromkeys(r.rule_id for r in need.values()))
                held = PendingApproval(job, asking, rules, dict(excluded), now)
                self.pending_approval[job.id] = held
                out.held.append(held)
                return None
            options = allowed
            excluded = dict(excluded)
            for site, why in asking.items():
                excluded[site] = f"{why} (not requested: other sites need no approval)"
        return PendingJob(job, options, excluded, recheck=recheck)

    def _admit(self, pending: PendingJob, option: Option, now: float, reason: str) -> bool:
        job = pending.job
        if option.ready_h > now + 1e-9:
            raise SchedulingError(
                f"job {job.id!r} nominated at {now:.3f} h before its data reaches "
                f"{option.site} at {option.ready_h:.3f} h"
            )
        if pending.recheck:
            for site in option.sites:  # every part's site
                verdict = self.rules.check(job, self.scenario.sites[site], self.scenario)
                if verdict.verdict is not Verdict.ALLOW:
                    pending.waiting_reason = f"{site} no longer allowed: {verdict}"
                    self._fresh.add(job.id)
                    self._withdrawn.append(job)
                    return True
        grant = self.capacity.allocate_option(option, job)
        if grant is None:
            where = option.describe() if option.parts else f"{option.accelerator} at {option.site}"
            pending.waiting_reason = f"no room now on {where}"
            return False
        cost, part_costs = self.cost.option_breakdown(job, option, now)
        if option.parts:
            reason = f"{reason}; split across sites: {option.describe()}"
        placement = Placement(
            job=job,
            option=option,
            start_h=now,
            end_h=now + option.runtime_h,
            cost=cost,
            explanation=Explanation(
                self.policy.name, reason, pending.excluded, tuple(pending.options), now
            ),
            grant=grant,
            part_costs=part_costs,
        )
        self.running[job.id] = placement
        self._outcome.started.append(placement)
        if self._record is not None:
            for site in option.sites:
                self._record(job, site)
        return True

    # -- the service's restart path ------------------------------------------------------

    def restore(self, job: Job, option: Option, start_h: float) -> Placement:
        """Re-register a job that was already running before a restart or a leader change.

        Its capacity is allocated again and it joins `running` with no policy decision; a
        policy with the optional hook ``on_restored(placement)`` is told (a queueing policy
        counts it against its queue's quota again); others rebuild their plans from what is
        waiting. A split gang cannot be restored: the service never makes one (its backends
        dispatch to one cluster).
        """
        if option.parts:
            raise SchedulingError(
                f"job {job.id!r} cannot be restored on a split gang ({option.describe()}): "
                "gangs across sites are simulator-only"
            )
        grant = self.capacity.allocate(option.site_idx, option.pool, job)
        if grant is None:
            raise SchedulingError(
                f"job {job.id!r} cannot be restored: no room on {option.accelerator} "
                f"at {option.site}"
            )
        placement = Placement(
            job=job,
            option=option,
            start_h=start_h,
            end_h=start_h + option.runtime_h,
            cost=self.cost.breakdown(job, option.site, option.accelerator, start_h),
            explanation=Explanation(
                self.policy.name, "restored after a restart", {}, (option,), start_h
            ),
            grant=grant,
        )
        self.running[job.id] = placement
        if self._record is not None:
            self._record(job, option.site)
        hook = getattr(self.policy, "on_restored", None)
        if hook is not None:
            hook(placement)
        return placement

    # -- preemption (queueing) -----------------------------------------------------------

    def needs_recheck(self, job: Job) -> bool:
        """Whether a verdict for ``job`` depends on state (export volumes, approvals), so
        that its admission must ask the rules again (a requeued preempted job, for one)."""
        return self._key_of is not None and self._key_of(job) is None

    def preempt(self, job_id: str, reason: str) -> Placement:
        """Stop a running job now; its capacity is free at once and it waits again.

        The work since its last checkpoint (the job's ``checkpoint_h`` interval, where it
        declares one; else everything since its start) is lost and recorded in
        ``preemptions``. The policy gets the job back through its optional hook
        ``on_preempted(placement, record)``; a policy without one may not preempt. The
        driver ignores the stopped run's pending finish (its end no longer matches).
        """
        hook = getattr(self.policy, "on_preempted", None)
        if hook is None:
            raise SchedulingError(f"policy {self.policy.name!r} cannot take preempted jobs back")
        try:
            placement = self.running.pop(job_id)
        except KeyError:
            raise SchedulingError(f"job {job_id!r} is not running") from None
        now = self.clock.now()
        self.capacity.release(placement.grant)
        ran = max(0.0, now - placement.start_h)
        every = getattr(placement.job, "checkpoint_h", None)
        lost = ran - (ran // every) * every if every else ran
        record = Preemption(placement, now, reason, ran - lost, lost * placement.job.accelerators)
        if not hasattr(self, "preemptions"):
            self.preemptions: list[Preemption] = []
        self.preemptions.append(record)
        hook(placement, record)
        return placement


def _limit_types(
    options: list[Option],
    excluded: dict[str, str],
    limits: Mapping[str, tuple[frozenset[str], str]],
) -> tuple[list[Option], dict[str, str]]:
    """Drop the options on accelerator types a rule does not allow at their site; a site left
    with no option joins ``excluded`` with the rule's reason."""
    kept = [
        o for o in options
        if all(s not in limits or o.accelerator in limits[s][0] for s in o.sites)
    ]  # fmt: skip
    if len(kept) == len(options):
        return options, excluded
    excluded = dict(excluded)
    left = {s for o in kept for s in o.sites}
    for o in options:
        if o.site not in left and o.site not in excluded and o.site in limits:
            types, rule = limits[o.site]
            excluded[o.site] = (
                f"{rule}: may use only {', '.join(sorted(types)) or 'no type'} here, and no "
                "pool of those types is large enough"
            )
    return kept, excluded


@dataclass(frozen=True, slots=True)
class Preemption:
    """A running job stopped to make room: when, why, and what it kept and lost."""

    placement: Placement
    time_h: float
    reason: str
    #: hours of progress kept (up to its last checkpoint)
    kept_h: float
    #: accelerator-hours of work lost
    wasted_gpu_h: float

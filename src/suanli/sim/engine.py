"""A discrete-event engine: a heap of (time, order, sequence, event).

Events at the same time are taken in a fixed order (finishes release capacity before arrivals
are considered, then wake-ups, then regulators' decisions) and then by sequence number, so runs
are deterministic. After all events of one instant are applied, the scheduler runs one cycle.

A job the scheduler holds for approval is passed to ``regulator(held, now)``, which says when
and how it will be decided: ``(time, approve, evidence or reason)``; at that time the engine
calls ``scheduler.approve`` or ``scheduler.deny``.

``withdrawals`` (job id -> time; tests, never ``suanli simulate``) cancel jobs: at that time
(after the instant's other events) the engine calls ``scheduler.withdraw``; a job that waits
then is withdrawn and never starts, one that runs or has not arrived is left alone.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from suanli.core.clock import ManualClock
from suanli.core.scheduler import PendingApproval, Placement, Rejection, Scheduler
from suanli.errors import SchedulingError
from suanli.model import Job

#: events closer than this (hours) are the same instant
SAME_INSTANT_H = 1e-9


class Kind(IntEnum):
    FINISH = 0
    ARRIVAL = 1
    WAKE = 2
    DECISION = 3
    WITHDRAWAL = 4


#: when and how a held job is decided: (time h, approve, evidence or reason)
Regulator = Callable[[PendingApproval, float], tuple[float, bool, str]]


@dataclass(slots=True)
class Trace:
    """What happened in one run, in order."""

    placements: list[Placement] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    #: (time, event, job id, site or "") for every start, finish and rejection
    events: list[tuple[float, str, str, str]] = field(default_factory=list)
    cycles: int = 0
    #: (time, site index, fragmented accelerators, idle accelerators), sampled periodically
    fragmentation: list[tuple[float, int, float, float]] = field(default_factory=list)
    #: (time, "held" | "approved" | "denied", job id) for every approval step
    approvals: list[tuple[float, str, str]] = field(default_factory=list)
    #: (time, job id) of every job withdrawn while it waited (``withdrawals``)
    withdrawn: list[tuple[float, str]] = field(default_factory=list)


def run(
    scheduler: Scheduler,
    clock: ManualClock,
    jobs: Iterable[Job],
    on_progress: Callable[[int], None] | None = None,
    record_events: bool = False,
    sample_every_h: float = 6.0,
    regulator: Regulator | None = None,
    withdrawals: Mapping[str, float] | None = None,
) -> Trace:
    """Replay ``jobs`` through ``scheduler`` until every job has finished or been rejected
    (or been withdrawn: ``withdrawals``)."""
    heap: list[tuple[float, int, int, str]] = []
    seq = 0
    by_id: dict[str, Job] = {}
    for job in jobs:
        by_id[job.id] = job
        heap.append((job.arrival_h, Kind.ARRIVAL, seq, job.id))
        seq += 1
    for job_id, when in (withdrawals or {}).items():
        heap.append((when, Kind.WITHDRAWAL, seq, job_id))
        seq += 1
    heapq.heapify(heap)
    trace = Trace()
    wakes: set[float] = set()
    done = 0
    next_sample = 0.0
    n_sites = len(scheduler.scenario.sites)
    decisions: dict[str, tuple[bool, str]] = {}
    n_preempted = 0
    while heap:
        t = heap[0][0]
        clock.set(max(t, clock.now()))
        while heap and heap[0][0] <= t + SAME_INSTANT_H:
            when, kind, _, job_id = heapq.heappop(heap)
            if kind == Kind.FINISH:
                live = scheduler.running.get(job_id)
                # keyed by its run's end: another end is a run that was preempted. Compared
                # with the event's own time, not the instant's first (``t``): a run ending
                # within SAME_INSTANT_H after ``t`` was dropped and never finished
                if live is None or live.end_h != when:
                    continue
                p = scheduler.finish(job_id)
                done += 1
                if record_events:
                    trace.events.append((t, "finish", job_id, p.option.site))
            elif kind == Kind.ARRIVAL:
                scheduler.submit(by_id[job_id])
            elif kind == Kind.DECISION:
                approve, note = decisions.pop(job_id)
                if approve:
                    scheduler.approve(job_id, note)
                else:
                    scheduler.deny(job_id, note)
                trace.approvals.append((t, "approved" if approve else "denied", job_id))
            elif kind == Kind.WITHDRAWAL:
                if scheduler.withdraw(job_id, "withdrawn by the run"):
                    trace.withdrawn.append((t, job_id))
                    if record_events:
                        trace.events.append((t, "withdraw", job_id, ""))
            else:
                wakes.discard(t)
        while t >= next_sample:
            for i in range(n_sites):
                frag, idle = scheduler.capacity.fragmentation(i)
                trace.fragmentation.append((next_sample, i, frag, idle))
            next_sample += sample_every_h
        out = scheduler.cycle()
        trace.cycles += 1
        stopped = getattr(scheduler, "preemptions", ())
        for pre in stopped[n_preempted:]:
            if record_events:
                site = pre.placement.option.site
                trace.events.append((pre.time_h, "preempt", pre.placement.job.id, site))
        n_preempted = len(stopped)
        for p in out.started:
            trace.placements.append(p)
            heapq.heappush(heap, (p.end_h, Kind.FINISH, seq, p.job.id))
            seq += 1
            if record_events:
                trace.events.append((p.start_h, "start", p.job.id, p.option.site))
        for r in out.rejected:
            trace.rejections.append(r)
            done += 1
            if record_events:
                trace.events.append((r.time_h, "reject", r.job.id, ""))
        for held in out.held:
            trace.approvals.append((t, "held", held.job.id))
            if regulator is None:
                raise SchedulingError(
                    f"job {held.job.id!r} needs an approval and the run has no regulator"
                )
            when, approve, note = regulator(held, t)
            decisions[held.job.id] = (approve, note)
            heapq.heappush(heap, (max(when, t), Kind.DECISION, seq, held.job.id))
            seq += 1
        if out.wake_h is not None and out.wake_h > t + SAME_INSTANT_H and out.wake_h not in wakes:
            wakes.add(out.wake_h)
            heapq.heappush(heap, (out.wake_h, Kind.WAKE, seq, ""))
            seq += 1
        if on_progress is not None and (out.started or out.rejected):
            on_progress(done)
    return trace

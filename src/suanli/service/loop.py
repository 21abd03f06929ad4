"""The scheduling loop: the simulator's scheduler core, driven by the wall clock and the database.

Every replica runs this loop; only the holder of the scheduler lease (`suanli.service.leader`)
schedules. Each tick of the leader:

1. **lease**    renew it (or take it over); a new leader rebuilds its scheduler from the
                database: running and admitted jobs are restored into capacity
                (`Scheduler.restore`), queued ones are submitted again, and a queueing
                policy takes back its fair-share history (`HISTORY`);
2. **intake**   jobs queued since the last tick are submitted to the scheduler;
3. **cancel**   jobs cancelled while they waited are withdrawn from the scheduler
                (`Scheduler.withdraw`: the policy drops its plan, queue position, quota
                hold or reservation for them); cancellations of placed jobs reach the
                backend and release capacity;
4. **poll**     ended runs are finished in the scheduler (under a queueing policy, the ends of
                steps 3 and 4 are committed after the cycle, with its history: `_after_cycle`);
5. **cycle**    when something happened or the policy's wake-up time came;
6. **commit**   a queueing policy's preemptions first (`_preemptions`: the victim is recorded
                preempted and queued again, with the policy's reason, and its run is stopped
                on the backend), then placements become ``admitted`` then ``running``
                (launched on the backend), infeasible jobs ``rejected``; every change is
                fenced by the lease and carries an event with its reason; the first
                transaction also saves the queueing policy's history, if the cycle changed it;
7. **seal**     new events become leaves of the audit ledger's Merkle tree (RFC 6962,
                `suanli.ledger.merkle`); each stores its leaf hash and the tree head after it.

A state only changes from the state the loop expects (``... WHERE state = 'queued'``), so a
job cancelled meanwhile is released rather than started, and no job is admitted twice.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import generate_latest
from sqlalchemy import Connection, bindparam, insert, select, update

from suanli.core.cost import CostModel
from suanli.core.options import feasibility
from suanli.core.policies import is_queueing, make_policy
from suanli.core.policies.queueing import QueueingPolicy
from suanli.core.scheduler import (
    CycleContext,
    CycleOutcome,
    PendingJob,
    Placement,
    Policy,
    Preemption,
    Scheduler,
)
from suanli.errors import SchedulingError
from suanli.ledger.merkle import MerkleTree
from suanli.model import Scenario
from suanli.service.backends.base import Backend, BackendUnavailable, Launch, RunState
from suanli.service.backends.registry import SiteBackends
from suanli.service.failover import make_failover
from suanli.service.jobs import to_model_job
from suanli.service.leader import LeaderLease, LostLeadership
from suanli.service.metrics import ServiceMetrics
from suanli.service.priority import GateThread, nice_thread
from suanli.service.storage.repo import (
    EVENTS,
    JOBS,
    META,
    PREEMPTIONS,
    QUEUEING_VERSION,
    Event,
    Store,
    add_events,
    event_leaf,
    job_event,
)
from suanli.service.topology import (
    ServiceClock,
    ServiceRules,
    build_queueing,
    build_scenario,
    restrict_pools,
)

if TYPE_CHECKING:
    from suanli.service.app import ServiceConfig

log = logging.getLogger("suanli.service")
_Row = TypeVar("_Row")
_T = TypeVar("_T")

#: the scheduler's cost horizon reaches this far past now; rebuilt when it gets close
HORIZON_AHEAD_H = 120 * 24
HORIZON_MARGIN_H = 30 * 24
SWEEP_EVERY_S = 2.0
INTAKE_BATCH = 5000
SEAL_BATCH = 1000
#: rows (jobs or ledger entries) per write transaction of the leader. On SQLite a submission
#: waits for the transaction in progress, so a tick's changes are committed in short ones:
#: one of about 2,000 admissions held the lock for 48-111 ms, those of 200 held it for 8.8 ms
#: at the median and 17.4 ms at most in one traced run at load average 3 (measured
#: 2026-12-01, docs/service.md "The write path on SQLite"). Each is complete on its own
#: (state, reason and event of every job in it), so a crash between two leaves nothing
#: half-written.
WRITE_CHUNK = 200

#: the jobs cancelled while they waited, by their events since the last seal (`_seal` seals
#: every event once: a tick sees those committed since the last tick's seal); one committed
#: after this read and sealed in the same tick is found by the sweep (`_intake`)
CANCELLED_WAITING = select(EVENTS.c.subject_id).where(
    EVENTS.c.ledger_seq.is_(None),
    EVENTS.c.subject == "job",
    EVENTS.c.to_state == "cancelled",
    EVENTS.c.from_state.in_(("queued", "pending-approval")),
)

#: meta key of the runs of preempted jobs not yet stopped on their backend: ``[[job, handle]]``
STOPPING = "preempted-runs"

#: meta key of the queueing policy's history (`QueueingPolicy.saved_state`: the decayed usage
#: per queue and flavor and the time it holds at, suanli-queue's reclaim backoff and kueue's
#: quota holds), which a rebuilt scheduler takes back (`_restore_history`). One JSON document
#: in one row rather than a table: it is read whole once per rebuild and replaced whole, in the
#: write transaction that commits the changes of the cycle it describes (`_write`), so it is
#: never half-written and never ahead of or behind the jobs' rows; and it needs no migration.
HISTORY = "queueing-history"
#: the parts of the history that change with every cycle, by decay alone: a history whose
#: other parts did not change follows from the one saved, which is not written again
TIMED = ("at_h", "usage")

#: the pause between two write transactions of the leader, so that a submission waiting for
#: the gate gets in between them: a released lock goes to whichever writer asks first, and
#: one that asks again at once (the next chunk) is usually first, however long the other
#: has waited
HANDOVER_S = 0.001

#: a placement's row: where, when, at what cost, and why (``b_*``: bound per job)
ADMIT = update(JOBS).values(
    site=bindparam("b_site"),
    pool=bindparam("b_pool"),
    accelerator=bindparam("b_acc"),
    start_h=bindparam("b_start"),
    end_h=bindparam("b_end"),
    cost_yuan=bindparam("b_cost"),
    explanation=bindparam("b_ex", type_=JOBS.c.explanation.type),
)


class ExplainingPolicy(Policy):
    """Wraps a policy to keep each waiting job's `PendingJob`, whose ``waiting_reason`` and
    plan the service shows while the job waits (decisions stay the wrapped policy's)."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.name = inner.name
        self.pending: dict[str, PendingJob] = {}

    def bind(self, scheduler: Scheduler) -> None:
        super().bind(scheduler)
        self.inner.bind(scheduler)

    def on_arrival(self, pending: PendingJob, ctx: CycleContext) -> None:
        self.pending[pending.job.id] = pending
        self.inner.on_arrival(pending, ctx)

    def on_finish(self, placement: Placement, ctx: CycleContext) -> None:
        self.inner.on_finish(placement, ctx)

    def on_preempted(self, placement: Placement, record: Preemption) -> None:
        """A queueing policy takes its preempted job back; its new `PendingJob` is kept."""
        hook = getattr(self.inner, "on_preempted", None)
        if hook is None:
            raise SchedulingError(f"policy {self.name!r} cannot take preempted jobs back")
        hook(placement, record)
        if isinstance(self.inner, QueueingPolicy):
            waiting = self.inner.jobs.get(placement.job.id)
            if waiting is not None:
                self.pending[placement.job.id] = waiting.pending

    def on_restored(self, placement: Placement) -> None:
        hook = getattr(self.inner, "on_restored", None)
        if hook is not None:
            hook(placement)

    def nominate(self, ctx: CycleContext) -> float | None:
        return self.inner.nominate(ctx)

    def withdraw(self, job_id: str) -> bool:
        self.pending.pop(job_id, None)
        return self.inner.withdraw(job_id)

    def waiting(self) -> int:
        return self.inner.waiting()


@dataclass(slots=True)
class _State:
    """The leader's in-memory view, rebuilt from the database on every takeover."""

    scheduler: Scheduler
    term: int
    topology: str
    horizon_h: int
    cursor: int = 0
    #: jobs the scheduler knows (waiting or running) -> submission time (Unix seconds)
    known: dict[str, float] = field(default_factory=dict)
    #: running job -> backend handle
    handles: dict[str, str] = field(default_factory=dict)
    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: job -> its declared checkpoint path (passed to every run as SUANLI_CHECKPOINT)
    checkpoints: dict[str, str] = field(default_factory=dict)
    dirty: bool = True
    wake_h: float | None = None
    #: the waiting reason last written per job
    shown: dict[str, str] = field(default_factory=dict)
    #: the queueing version (`QUEUEING_VERSION`) the scheduler was built with
    queueing: str = ""
    #: how many of the scheduler's preemptions the loop has carried out
    preempted_seen: int = 0
    #: runs of preempted jobs still to stop on their backend (job id, handle; `STOPPING`)
    stopping: list[tuple[str, str]] = field(default_factory=list)
    #: the queueing policy's history as last saved, without its `TIMED` parts
    history: dict[str, Any] = field(default_factory=dict)
    #: the writes of this tick's ends (finished, cancelled, lost runs) still to commit, with
    #: the history of the cycle that counts them (`_after_cycle`)
    ended: list[Callable[[], None]] = field(default_factory=list)


class SchedulingLoop:
    """Runs the leader's ticks in a thread (or step by step, in tests)."""

    def __init__(
        self,
        store: Store,
        base: Scenario,
        backend: Backend,
        lease: LeaderLease,
        metrics: ServiceMetrics,
        *,
        policy: str = "suanli",
        tick_s: float = 0.1,
        flavor_scope: str = "network",
    ) -> None:
        self.store, self.base, self.backend = store, base, backend
        self.lease, self.metrics = lease, metrics
        self.policy = policy
        #: whether the policy is a multi-tenant queueing one (quotas, preemption)
        self.queueing = is_queueing(policy)
        self.flavor_scope = flavor_scope
        self.tick_s = tick_s
        self.epoch = store.epoch()
        self.clock = ServiceClock(self.epoch)
        self.draining: set[str] = set()
        self.failover = make_failover(self)
        self.rules = ServiceRules(
            self.draining,
            self.failover.down if self.failover is not None else frozenset(),
            backend.dispatchable if isinstance(backend, SiteBackends) else None,
        )
        self.state: _State | None = None
        self._last_sweep = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: called after each leader tick (tests wait on it)
        self.on_tick: Callable[[], None] | None = None
        #: where a scheduler process leaves its metrics for the API process to serve
        self.metrics_file: Path | None = None
        #: the ledger's Merkle tree as sealed so far (rebuilt from the database when unsure)
        self._tree: MerkleTree | None = None
        #: niceness the loop's thread adds to its own (`suanli.service.priority`); its write
        #: transactions then run in `gate`, at the priority of the thread that called `start`
        self.nice = 0
        self.gate: GateThread | None = None
        #: when the next write transaction may begin (`HANDOVER_S` after the last)
        self._handover_at = 0.0
        #: the queueing policy's history (`HISTORY`) that the next write transaction saves
        self._unsaved_history: str | None = None

    # -- thread --------------------------------------------------------------------------

    def start(self) -> None:
        if self.failover is not None:
            self.failover.start()
        if self.nice > 0 and self.gate is None:
            self.gate = GateThread()
        self._thread = threading.Thread(target=self._run, name="suanli-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.failover is not None:
            self.failover.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.gate is not None:
            self.gate.close()
            self.gate = None
        try:
            self.lease.release()
        except Exception:  # the database may be gone at shutdown
            log.exception("could not release the scheduler lease")

    def _run(self) -> None:
        nice_thread(self.nice)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.step()
            except LostLeadership:
                log.warning("lost the scheduler lease; standing by")
                self.state = None
            except Exception:
                log.exception("scheduling tick failed; rebuilding from the database")
                self.state = None
            self._stop.wait(max(0.0, self.tick_s - (time.monotonic() - started)))

    # -- one tick ------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.lease.is_leader and self.state is not None

    def step(self) -> None:
        sweep = time.monotonic() - self._last_sweep >= SWEEP_EVERY_S
        if sweep:
            self._last_sweep = time.monotonic()
            self._gauges()
            self._export_metrics()
        if not self._in_gate(self.lease.acquire):
            self.state = None
            self.metrics.leader.set(0)
            return
        self.metrics.leader.set(1)
        assert self.lease.term is not None
        st = self.state
        if st is None or st.term != self.lease.term:
            st = self.state = self._bootstrap(self.lease.term)
            sweep = False
        elif sweep and self._needs_rebuild(st):
            st = self.state = self._bootstrap(self.lease.term)
        elif sweep and self.queueing and self._queueing_changed(st):
            why = "tenants, quotas or priority classes changed"
            st = self.state = self._bootstrap(self.lease.term, why)
        if self.failover is not None:
            changed = self.failover.tick(st)
            if changed:
                st = self.state = self._bootstrap(self.lease.term, changed)
        self._intake(st, sweep)
        self._cancellations(st)
        self._poll(st)
        self._stop_runs(st)
        now = self.clock.now()
        if st.dirty or (st.wake_h is not None and now >= st.wake_h):
            st.dirty = False
            out = st.scheduler.cycle()
            self.metrics.cycles.inc()
            st.wake_h = out.wake_h
            self._note_history(st)
            self._write_ended(st)
            self._preemptions(st, out)
            self._commit(st, out)
            if self.queueing and st.scheduler.policy.waiting():
                self._queueing_wake(st, out)
            if self._unsaved_history is not None:  # nothing else was written
                self._write(lambda conn: None)
        self._write_ended(st)  # ends of a tick without a cycle
        self._seal()
        if sweep:
            self._utilization(st)
            self._explain_waiting(st)
        if self.on_tick is not None:
            self.on_tick()

    @staticmethod
    def _queueing_wake(st: _State, out: CycleOutcome) -> None:
        """The next cycle of a queueing policy with jobs waiting: at the next tick while a
        cycle makes progress (a cycle examines at most ``scan_limit`` jobs), else no later
        than its next backfill pass (between passes a cycle stops at the first blocked job);
        not only when something happens, as for the placement policies."""
        if out.started:
            st.dirty = True
        inner = _queueing_policy(st)
        if inner is not None:
            due = inner.next_backfill_h
            st.wake_h = due if st.wake_h is None else min(st.wake_h, due)

    # -- 1. takeover ---------------------------------------------------------------------

    def _needs_rebuild(self, st: _State) -> bool:
        self.draining.clear()
        self.draining.update(r["id"] for r in self.store.sites() if r["state"] == "draining")
        if self.clock.now() > st.horizon_h - HORIZON_MARGIN_H:
            return True
        return (self.store.meta("topology") or "") != st.topology

    def _queueing_changed(self, st: _State) -> bool:
        """Tenants, quotas or priority classes changed since the scheduler was built (a
        queueing policy's configuration is rebuilt from them; its history is taken back,
        `_restore_history`)."""
        return (self.store.meta(QUEUEING_VERSION) or "") != st.queueing

    def _bootstrap(self, term: int, rebuilt_for: str = "") -> _State:
        """The scheduler rebuilt from the database: on taking the lease, or (``rebuilt_for``)
        when sites changed under a leader."""
        self._unsaved_history = None  # a history not yet saved is an earlier scheduler's
        sites = self.store.sites()
        self.draining.clear()
        self.draining.update(r["id"] for r in sites if r["state"] == "draining")
        scenario = build_scenario(
            self.base,
            sites,
            self.store.pools(),
            self.store.tenants(),
            self.store.site_series(),
            self.epoch,
        )
        if isinstance(self.backend, SiteBackends):
            scenario = restrict_pools(scenario, self.backend.accelerators)
        version = self.store.meta(QUEUEING_VERSION) or ""
        if self.queueing:
            config, ignored = build_queueing(
                scenario,
                self.store.tenants(),
                self.flavor_scope,
                self.store.priority_classes(),
                self.store.cohorts(),
            )
            for line in ignored:
                log.warning("%s", line)
            scenario = replace(scenario, queueing=config)
        now = self.clock.now()
        horizon = max(scenario.hours, int(now) + HORIZON_AHEAD_H)
        cost = CostModel(scenario, horizon_h=horizon)
        scheduler = Scheduler(
            scenario,
            ExplainingPolicy(make_policy(self.policy)),
            self.clock,
            cost,
            rules=self.rules,
        )
        st = _State(scheduler, term, self.store.meta("topology") or "", horizon)
        st.queueing = version
        st.stopping = [(str(j), str(h)) for j, h in json.loads(self.store.meta(STOPPING) or "[]")]
        placed = self.store.jobs(states=("admitted", "running"), limit=10**9)
        self._restore_history(st, {row["id"] for row in placed})
        lost: list[tuple[str, str, str]] = []
        for row in placed:
            job = to_model_job(row, self.epoch)
            option = next(
                (
                    o
                    for o in feasibility(job, cost).options
                    if o.site == row["site"] and o.pool == row["pool"]
                ),
                None,
            )
            try:
                if option is None:
                    raise SchedulingError(f"{row['site']} pool {row['pool']} no longer fits it")
                scheduler.restore(job, option, float(row["start_h"]))
            except SchedulingError as exc:
                lost.append((row["id"], row["state"], f"lost its placement on restore: {exc}"))
                continue
            st.known[job.id] = row["created_at"]
            self._remember(st, row)
            if row["handle"]:
                st.handles[job.id] = row["handle"]
        if lost:
            self._write(lambda conn: self._finish_rows(conn, lost, "failed"))
        for row in self.store.jobs(states=("admitted",), limit=10**9):
            if row["id"] in st.known and not row["handle"]:
                self._launch(st, [st.scheduler.running[row["id"]]])
        queued = self.store.jobs(states=("queued",), limit=10**9)
        for row in queued:
            self._submit(st, row)
        with self.store.engine.connect() as conn:
            st.cursor = int(
                conn.execute(select(JOBS.c.seq).order_by(JOBS.c.seq.desc()).limit(1)).scalar() or 0
            )
        what = f"restored {len(placed) - len(lost)} placed jobs, {len(queued)} queued"
        log.info("scheduler (term %d%s): %s", term, f", {rebuilt_for}" if rebuilt_for else "", what)
        self._note_history(st)  # saved with the event: usage of queues gone is dropped
        action = "scheduler.rebuilt" if rebuilt_for else "leader.elected"
        why = f"term {term}: " + (f"{rebuilt_for}: " if rebuilt_for else "") + what
        self._write(
            lambda conn: add_events(
                conn, [Event("service", self.lease.holder, action, None, None, why, "scheduler")]
            )
        )
        return st

    def _restore_history(self, st: _State, placed: set[str]) -> None:
        """A queueing policy takes back the history its predecessor saved (`HISTORY`), before
        any job is restored into it, so that it orders queues as its predecessor would have
        (the usage decayed from the time it was saved to now, exactly); the per-job part is
        kept for the jobs still ``placed`` or queued."""
        inner = _queueing_policy(st)
        saved = self.store.meta(HISTORY)
        if inner is None or not saved:
            return
        with self.store.engine.connect() as conn:
            queued = conn.execute(select(JOBS.c.id).where(JOBS.c.state == "queued")).scalars()
            jobs = placed | set(queued)
        try:
            inner.restore_state(json.loads(saved), jobs)
        except (ValueError, TypeError, KeyError, AttributeError, SchedulingError) as exc:
            # a document this version cannot read must not stop the scheduler
            log.warning("queueing history not restored (%s); fair share starts over", exc)

    def _note_history(self, st: _State) -> None:
        """After a change of the queueing policy's state, its history is saved with the
        next write transaction (`_write`): with the commit of the cycle that changed it."""
        inner = _queueing_policy(st)
        if inner is None:
            return
        state = inner.saved_state()
        untimed = {k: v for k, v in state.items() if k not in TIMED}
        if untimed != st.history:
            st.history = untimed
            self._unsaved_history = json.dumps(state)

    # -- 2. intake -----------------------------------------------------------------------

    def _submit(self, st: _State, row: Any) -> None:
        st.scheduler.submit(to_model_job(row, self.epoch))
        st.known[row["id"]] = row["created_at"]
        self._remember(st, row)
        st.dirty = True

    @staticmethod
    def _remember(st: _State, row: Any) -> None:
        """What a launch needs of a job's document: its command and declared checkpoint."""
        spec = row["doc"]["spec"]
        st.commands[row["id"]] = tuple(spec["command"])
        checkpoint = (spec.get("checkpoint") or {}).get("path")
        if checkpoint:
            st.checkpoints[row["id"]] = checkpoint

    def _intake(self, st: _State, sweep: bool) -> None:
        with self.store.engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(JOBS)
                    .where(JOBS.c.seq > st.cursor)
                    .order_by(JOBS.c.seq)
                    .limit(INTAKE_BATCH)
                ).mappings()
            )
            if sweep:
                # late commits (PostgreSQL assigns seq before commit) and approvals
                ids = [
                    r[0] for r in conn.execute(select(JOBS.c.id).where(JOBS.c.state == "queued"))
                ]
                missing = [i for i in ids if i not in st.known]
                if missing:
                    rows += list(
                        conn.execute(select(JOBS).where(JOBS.c.id.in_(missing[:5000]))).mappings()
                    )
        for row in rows:
            st.cursor = max(st.cursor, int(row["seq"]))
            if row["state"] == "queued" and row["id"] not in st.known:
                self._submit(st, row)
        if sweep:  # a waiting job no longer queued was cancelled (one `_cancellations` missed)
            queued = set(ids)
            running = st.scheduler.running
            self._withdraw(st, [j for j in st.known if j not in queued and j not in running])

    # -- 3. cancellations ----------------------------------------------------------------

    def _cancellations(self, st: _State) -> None:
        with self.store.engine.connect() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    select(JOBS.c.id).where(
                        JOBS.c.cancel_requested.is_(True), JOBS.c.state.in_(("admitted", "running"))
                    )
                )
            ]
            waited = list(conn.execute(CANCELLED_WAITING).scalars())
        self._withdraw(st, waited)
        if not ids:
            return
        done: list[tuple[str, str, str]] = []
        left = False
        for job_id in ids:
            handle = st.handles.get(job_id)
            why = "cancelled on request"
            if handle is not None:
                try:
                    if self.failover is not None and self.failover.skips(handle):
                        raise BackendUnavailable("its site is down")
                    self.backend.cancel(handle)
                except BackendUnavailable as exc:
                    if self.failover is None:
                        log.warning("cancel of %s: %s; trying again next tick", job_id, exc)
                        continue
                    # its cluster does not answer: the run is stopped when it answers again
                    self.failover.leave(job_id, handle)
                    why += f"; its run is stopped when the site answers again ({exc})"
                    left = True
                del st.handles[job_id]
            self._release(st, job_id)
            done.append((job_id, "running" if handle else "admitted", why))

        def write(conn: Connection) -> None:
            self._finish_rows(conn, done, "cancelled")
            if left and self.failover is not None:
                self.failover.save(conn)

        self._after_cycle(st, [lambda: self._write(write)])

    def _withdraw(self, st: _State, job_ids: Sequence[str]) -> None:
        """Jobs cancelled while they waited (`Store.request_cancel` cancels a queued job at
        once) leave the scheduler now, with what its policy held for them (a plan's
        capacity, a queue's head, a quota hold: `Scheduler.withdraw`), and a cycle follows.
        A job the scheduler does not hold waiting is left alone (the cancelled-while-it-
        waited path of `_commit` remains for one that starts before this is seen)."""
        for job_id in job_ids:
            if job_id not in st.known or job_id in st.scheduler.running:
                continue
            st.scheduler.withdraw(job_id, "cancelled while it waited")
            self._release(st, job_id)
            st.shown.pop(job_id, None)
            st.dirty = True

    def _after_cycle(self, st: _State, writes: Sequence[Callable[[], None]]) -> None:
        """The writes of runs that ended (released from the scheduler already): at once under
        a placement policy; under a queueing policy after this tick's cycle, the first with its
        history (`_write_ended`). Committed before it, an end left the history saved before
        it (at the run's start, perhaps) in the database: a rebuild then restored neither the
        run nor its usage since that history's time. Together, either both are committed or
        neither (the run is restored and ends again at the next tick). Chunks after the first
        may still fail after it: their runs are then counted from the history's time again
        until they end again (a tick's usage too many, never one lost)."""
        if self.queueing:
            st.ended.extend(writes)
            return
        for write in writes:
            write()

    def _write_ended(self, st: _State) -> None:
        writes, st.ended = st.ended, []
        for write in writes:
            write()

    def _release(self, st: _State, job_id: str) -> None:
        if job_id in st.scheduler.running:
            st.scheduler.finish(job_id)
            st.dirty = True
        st.known.pop(job_id, None)
        st.commands.pop(job_id, None)
        st.checkpoints.pop(job_id, None)

    # -- 4. poll -------------------------------------------------------------------------

    def _poll(self, st: _State) -> None:
        ended: dict[str, list[tuple[str, str, str]]] = {}
        requeue: list[str] = []
        for job_id, handle in list(st.handles.items()):
            if self.failover is not None and self.failover.skips(handle):
                continue  # its site is down: the job is held there
            try:
                status = self.backend.poll(handle)
            except BackendUnavailable:
                continue  # the site's liveness decides; the job is asked again next tick
            if status.state is RunState.RUNNING:
                continue
            del st.handles[job_id]
            if status.state is RunState.LOST:
                requeue.append(job_id)
                continue
            self._release(st, job_id)
            ended.setdefault(status.state.value, []).append(
                (job_id, "running", status.detail or status.state.value)
            )
            self.metrics.decisions.labels(status.state.value).inc()

        def lost(conn: Connection, ids: Sequence[str]) -> None:
            for job_id in ids:
                self._preempt(conn, job_id)

        writes = [partial(self._finish_chunks, rows, state) for state, rows in ended.items()]
        if requeue:
            writes.append(partial(self._write_chunks, requeue, lost))
        for job_id in requeue:
            self._release(st, job_id)
        self._after_cycle(st, writes)

    def _preempt(
        self,
        conn: Connection,
        job_id: str,
        why: str = "the backend lost the run",
        requeued: str = "requeued after preemption",
        src: str = "running",
        lost_gpu_h: float | None = None,
    ) -> bool:
        """A run the backend lost (or could not start, or left on a site that went down, or
        a queueing policy stopped): recorded as preempted, then queued again, and in the
        preemptions with the work it lost (``lost_gpu_h`` accelerator-hours, where the
        policy measured it). False: the job was not in ``src``."""
        now = time.time()
        done = conn.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.state == src)
            .values(
                state="queued",
                reason=f"preempted: {why}; {requeued}",
                handle=None,
                site=None,
                pool=None,
                accelerator=None,
                start_h=None,
                end_h=None,
                updated_at=now,
            )
        ).rowcount
        if done:
            add_events(
                conn,
                [
                    job_event(job_id, src, "preempted", why, "scheduler"),
                    job_event(job_id, "preempted", "queued", requeued, "scheduler"),
                ],
                now,
            )
            tenant = select(JOBS.c.tenant).where(JOBS.c.id == job_id).scalar_subquery()
            conn.execute(
                insert(PREEMPTIONS).values(
                    at=now, job_id=job_id, reason=why, lost_gpu_h=lost_gpu_h, tenant=tenant
                )
            )
        return bool(done)

    def _preemptions(self, st: _State, out: CycleOutcome) -> None:
        """Carry out the preemptions of this cycle's policy (a queueing policy's reclaim or
        priority preemption), before its placements are committed.

        One transaction records every victim ``preempted`` then ``queued`` (its reason the
        policy's) and remembers its run in `STOPPING`; the runs are then cancelled on their
        backends (`_stop_runs`). A leader that dies between the two finds the runs in
        `STOPPING` and cancels them; one that dies before the transaction finds the victims
        still running and decides again. A job started and preempted within this cycle was
        never committed: it is simply not admitted.
        """
        records: list[Preemption] = getattr(st.scheduler, "preemptions", [])
        if len(records) <= st.preempted_seen:
            return
        fresh = records[st.preempted_seen :]
        st.preempted_seen = len(records)
        uncommitted = {id(p) for p in out.started}
        out.started[:] = [p for p in out.started if st.scheduler.running.get(p.job.id) is p]
        victims: list[tuple[str, str | None, Preemption]] = []
        for rec in fresh:
            if id(rec.placement) in uncommitted:
                continue
            job_id = rec.placement.job.id
            victims.append((job_id, st.handles.pop(job_id, None), rec))
            st.shown.pop(job_id, None)
        if not victims:
            return
        requeued = f"requeued by the {self.policy} policy; it waits for its turn again"
        stopping = st.stopping + [(j, h) for j, h, _ in victims if h]

        def write(conn: Connection) -> None:
            for job_id, handle, rec in victims:
                first = ("running", "admitted") if handle else ("admitted", "running")
                for src in first:
                    if self._preempt(conn, job_id, rec.reason, requeued, src, rec.wasted_gpu_h):
                        break
            self._save_stopping(conn, stopping)

        self._write(write)
        st.stopping = stopping
        for _ in victims:
            self.metrics.decisions.labels("preempted").inc()
        self._stop_runs(st)

    @staticmethod
    def _save_stopping(conn: Connection, stopping: Sequence[tuple[str, str]]) -> None:
        _save_meta(conn, STOPPING, json.dumps([list(s) for s in stopping]))

    def _stop_runs(self, st: _State) -> None:
        """Cancel the runs of preempted jobs (`STOPPING`) on their backends; one whose
        backend does not answer is tried again next tick."""
        if not st.stopping:
            return
        left: list[tuple[str, str]] = []
        events: list[Event] = []
        for job_id, handle in st.stopping:
            if self.failover is not None and self.failover.skips(handle):
                left.append((job_id, handle))  # its site is down: stopped when it is back
                continue
            try:
                self.backend.cancel(handle)
            except BackendUnavailable as exc:
                log.warning("stopping the preempted run of %s: %s; again next tick", job_id, exc)
                left.append((job_id, handle))
                continue
            why = f"its preempted run was cancelled on the backend ({handle})"
            events.append(Event("job", job_id, "run-stopped", None, None, why, "scheduler"))
        if not events:
            return

        def write(conn: Connection) -> None:
            add_events(conn, events)
            self._save_stopping(conn, left)

        self._write(write)
        st.stopping = left

    # -- 6. commit -----------------------------------------------------------------------

    def _commit(self, st: _State, out: CycleOutcome) -> None:
        if out.started:
            moved: set[str] = set()
            self._write_chunks(
                [_admission(p) for p in out.started],
                lambda conn, rows: moved.update(
                    self._transition(conn, ADMIT, rows, "queued", "admitted")
                ),
            )
            admitted = [p for p in out.started if p.job.id in moved]
            for p in out.started:
                if p.job.id not in moved:  # cancelled while it waited
                    self._release(st, p.job.id)
            now = time.time()
            for p in admitted:
                self.metrics.admission.observe(max(0.0, now - st.known.get(p.job.id, now)))
                self.metrics.decisions.labels("admitted").inc()
            self._launch(st, admitted)
        if out.rejected:
            rows = [
                (
                    r.job.id,
                    "queued",
                    "infeasible everywhere: "
                    + "; ".join(f"{s}: {why}" for s, why in r.reasons.items()),
                )
                for r in out.rejected
            ]
            self._finish_chunks(rows, "rejected")
            for r in out.rejected:
                st.known.pop(r.job.id, None)
                self.metrics.decisions.labels("rejected").inc()

    def _launch(self, st: _State, placements: Sequence[Placement]) -> None:
        rows = []
        failed: list[tuple[str, str]] = []
        for p in placements:
            checkpoint = st.checkpoints.get(p.job.id)
            per_node = st.scheduler.scenario.sites[p.option.site].pools[p.option.pool].per_node
            launch = Launch(
                p.job.id,
                st.commands.get(p.job.id, ()),
                p.option.site,
                p.option.accelerator,
                p.job.accelerators,
                p.option.runtime_h,
                env={"SUANLI_CHECKPOINT": checkpoint} if checkpoint else {},
                nodes=max(1, math.ceil(p.job.accelerators / per_node)) if p.job.gang else 1,
            )
            try:
                handle = self.backend.submit(launch)
            except BackendUnavailable as exc:
                failed.append((p.job.id, str(exc)))
                continue
            st.handles[p.job.id] = handle
            rows.append({"b_id": p.job.id, "b_handle": handle, "b_why": self._launched(p, handle)})
        if rows:
            stmt = update(JOBS).values(handle=bindparam("b_handle"))
            self._write_chunks(
                rows, lambda conn, chunk: self._transition(conn, stmt, chunk, "admitted", "running")
            )
        if failed:

            def requeue(conn: Connection) -> None:
                for job_id, why in failed:
                    reason = f"launch failed: {why}"  # it never ran: nothing was lost
                    self._preempt(conn, job_id, reason, "requeued", "admitted", 0.0)

            self._write(requeue)
            for job_id, _ in failed:
                self._release(st, job_id)

    def _launched(self, p: Placement, handle: str) -> str:
        if isinstance(self.backend, SiteBackends):
            kind = self.backend.describe(p.option.site)
            return f"launched on the {kind} backend of {p.option.site} ({handle})"
        return f"launched on the {self.backend.name} backend"

    def _finish_rows(
        self, conn: Connection, rows: Sequence[tuple[str, str, str]], dst: str
    ) -> None:
        by_src: dict[str, list[dict[str, Any]]] = {}
        for job_id, src, reason in rows:
            by_src.setdefault(src, []).append({"b_id": job_id, "b_why": reason})
        for src, params in by_src.items():
            self._transition(conn, update(JOBS), params, src, dst)

    def _finish_chunks(self, rows: Sequence[tuple[str, str, str]], dst: str) -> None:
        self._write_chunks(rows, lambda conn, chunk: self._finish_rows(conn, chunk, dst))

    @staticmethod
    def _transition(
        conn: Connection, stmt: Any, rows: Sequence[dict[str, Any]], src: str, dst: str
    ) -> set[str]:
        """Move jobs from ``src`` to ``dst`` in one statement, with their events; returns the
        ids that moved (a job no longer in ``src``, e.g. cancelled meanwhile, does not)."""
        if not rows:
            return set()
        now = time.time()
        conn.execute(
            stmt.where(JOBS.c.id == bindparam("b_id"), JOBS.c.state == src).values(
                state=dst, reason=bindparam("b_why"), updated_at=now
            ),
            rows,
        )
        ids = [r["b_id"] for r in rows]
        done: set[str] = set()
        for k in range(0, len(ids), 500):
            chunk = ids[k : k + 500]
            done.update(
                r[0]
                for r in conn.execute(
                    select(JOBS.c.id).where(JOBS.c.id.in_(chunk), JOBS.c.state == dst)
                )
            )
        add_events(
            conn,
            [
                job_event(r["b_id"], src, dst, r["b_why"], "scheduler")
                for r in rows
                if r["b_id"] in done
            ],
            now,
        )
        return done

    @contextmanager
    def _fenced(self) -> Iterator[Connection]:
        """One write transaction of the leader, fenced by its lease."""
        with self.store.write() as conn:
            self.lease.fence(conn)
            yield conn

    def _in_gate(self, fn: Callable[[], _T]) -> _T:
        """``fn`` (a write transaction) in `gate`, at the API's priority, if the loop is niced."""
        return fn() if self.gate is None else self.gate.run(fn)

    def _write(self, fn: Callable[[Connection], object]) -> None:
        pause = self._handover_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # the gate to a waiting writer first (`HANDOVER_S`)

        history = self._unsaved_history

        def transaction() -> None:
            with self._fenced() as conn:
                fn(conn)
                if history is not None:
                    _save_meta(conn, HISTORY, history)

        try:
            self._in_gate(transaction)
        finally:
            self._handover_at = time.monotonic() + HANDOVER_S
        if self._unsaved_history is history:
            self._unsaved_history = None

    def _write_chunks(
        self, rows: Sequence[_Row], fn: Callable[[Connection, Sequence[_Row]], object]
    ) -> None:
        """``fn`` over ``rows`` in transactions of at most `WRITE_CHUNK` rows each."""
        for k in range(0, len(rows), WRITE_CHUNK):
            chunk = rows[k : k + WRITE_CHUNK]
            self._write(lambda conn: fn(conn, chunk))  # noqa: B023 (called before the next)

    # -- 7. ledger -----------------------------------------------------------------------

    def _seal(self) -> None:
        with self.store.engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(EVENTS)
                    .where(EVENTS.c.ledger_seq.is_(None))
                    .order_by(EVENTS.c.seq)
                    .limit(SEAL_BATCH)
                ).mappings()
            )
        if not rows:
            return
        tree = self._tree
        if tree is None or len(tree) != self.store.audit_head()[0]:
            tree = self._tree = MerkleTree(self.store.leaf_hashes(0, limit=10**12))
        params = []
        for row in rows:
            leaf = event_leaf(row)
            seq = tree.append_hash(leaf) + 1
            params.append({"k": row["seq"], "ls": seq, "d": leaf.hex(), "h": tree.root().hex()})

        stmt = (
            update(EVENTS)
            .where(EVENTS.c.seq == bindparam("k"))
            .values(ledger_seq=bindparam("ls"), digest=bindparam("d"), hash=bindparam("h"))
        )
        try:
            # in order: a chunk seals entries after those of the chunks before it
            self._write_chunks(params, lambda conn, chunk: conn.execute(stmt, list(chunk)))
        except Exception:
            self._tree = None  # rebuilt from what was committed
            raise

    def _explain_waiting(self, st: _State) -> None:
        """Write why each waiting job waits (the policy's plan) into its row's reason."""
        policy = st.scheduler.policy
        if not isinstance(policy, ExplainingPolicy):
            return
        rows = []
        for job_id, pending in list(policy.pending.items()):
            if job_id in st.scheduler.running or job_id not in st.known:
                del policy.pending[job_id]
                st.shown.pop(job_id, None)
                continue
            why = pending.waiting_reason
            if why and st.shown.get(job_id) != why:
                st.shown[job_id] = why
                rows.append({"b_id": job_id, "b_why": f"waiting: {why}"})
        stmt = (
            update(JOBS)
            .where(JOBS.c.id == bindparam("b_id"), JOBS.c.state == "queued")
            .values(reason=bindparam("b_why"))
        )
        self._write_chunks(rows, lambda conn, chunk: conn.execute(stmt, list(chunk)))

    # -- metrics -------------------------------------------------------------------------

    def _export_metrics(self) -> None:
        if self.metrics_file is None:
            return
        tmp = self.metrics_file.with_suffix(".tmp")
        tmp.write_bytes(generate_latest(self.metrics.registry))
        tmp.replace(self.metrics_file)

    def _gauges(self) -> None:
        counts = self.store.state_counts()
        for state in (
            "queued",
            "pending-approval",
            "admitted",
            "running",
            "succeeded",
            "failed",
            "cancelled",
            "rejected",
        ):
            self.metrics.jobs.labels(state).set(counts.get(state, 0))

    def _utilization(self, st: _State) -> None:
        cap = st.scheduler.capacity
        for i, sid in enumerate(cap.site_ids):
            total = sum(cap.total_milli[i])
            used = total - sum(cap.free_milli[i])
            self.metrics.utilization.labels(sid).set(used / total if total else 0.0)


def _queueing_policy(st: _State) -> QueueingPolicy | None:
    """The scheduler's queueing policy, if it runs one."""
    policy = st.scheduler.policy
    inner = policy.inner if isinstance(policy, ExplainingPolicy) else policy
    return inner if isinstance(inner, QueueingPolicy) else None


def _save_meta(conn: Connection, key: str, value: str) -> None:
    done = conn.execute(update(META).where(META.c.key == key).values(value=value))
    if not done.rowcount:
        conn.execute(insert(META).values(key=key, value=value))


def _admission(p: Placement) -> dict[str, Any]:
    """The `ADMIT` parameters of a placement (built before its transaction starts)."""
    ex = p.explanation
    return {
        "b_id": p.job.id,
        "b_why": f"{ex.policy}: {p.option.accelerator} at {p.option.site}: {ex.reason}",
        "b_site": p.option.site,
        "b_pool": p.option.pool,
        "b_acc": p.option.accelerator,
        "b_start": p.start_h,
        "b_end": p.end_h,
        "b_cost": round(p.cost.total_yuan, 4),
        "b_ex": {
            "policy": ex.policy,
            "reason": ex.reason,
            "excluded": ex.excluded,
            "options": len(ex.options),
        },
    }


def scheduler_main(config: ServiceConfig, parent_pid: int, metrics_file: str) -> None:
    """The scheduler process of a replica (``--scheduler process``): the loop, planning at a
    lower CPU priority than the API (``config.scheduler_nice``) but writing at the same
    (`suanli.service.priority`), until the API process goes away (it then gives up its lease)."""
    from suanli.service.app import Service

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    service = Service(config)
    service.loop.metrics_file = Path(metrics_file)
    service.loop.nice = config.scheduler_nice
    service.loop.start()
    try:
        while os.getppid() == parent_pid:
            time.sleep(0.1)
    finally:
        service.close()

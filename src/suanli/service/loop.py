"""The scheduling loop: the simulator's scheduler core, driven by the wall clock and the database.

Every replica runs this loop; only the holder of the scheduler lease (`suanli.service.leader`)
schedules. Each tick of the leader:

1. **lease**    renew it (or take it over); a new leader rebuilds its scheduler from the
                database: running and admitted jobs are restored into capacity
                (`Scheduler.restore`), queued ones are submitted again;
2. **intake**   jobs queued since the last tick are submitted to the scheduler;
3. **cancel**   cancellations of placed jobs reach the backend and release capacity;
4. **poll**     ended runs are finished in the scheduler;
5. **cycle**    when something happened or the policy's wake-up time came;
6. **commit**   placements become ``admitted`` then ``running`` (launched on the backend),
                infeasible jobs ``rejected``; every change is fenced by the lease and carries
                an event with its reason;
7. **seal**     new events are chained into the audit ledger.

A state only changes from the state the loop expects (``... WHERE state = 'queued'``), so a
job cancelled meanwhile is released rather than started, and no job is admitted twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from suanli.core.cost import CostModel
from suanli.core.options import feasibility
from suanli.core.policies import make_policy
from suanli.core.scheduler import CycleOutcome, Placement, Scheduler
from suanli.errors import SchedulingError
from suanli.model import Scenario
from suanli.service.backends.base import Backend, Launch, RunState
from suanli.service.jobs import to_model_job
from suanli.service.leader import LeaderLease, LostLeadership
from suanli.service.metrics import ServiceMetrics
from suanli.service.storage.repo import (
    EVENTS,
    JOBS,
    Event,
    Store,
    add_events,
    chain,
    event_digest,
    job_event,
)
from suanli.service.topology import ServiceClock, ServiceRules, build_scenario

log = logging.getLogger("suanli.service")

#: the scheduler's cost horizon reaches this far past now; rebuilt when it gets close
HORIZON_AHEAD_H = 120 * 24
HORIZON_MARGIN_H = 30 * 24
SWEEP_EVERY_S = 2.0
INTAKE_BATCH = 5000
SEAL_BATCH = 5000


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
    dirty: bool = True
    wake_h: float | None = None


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
    ) -> None:
        self.store, self.base, self.backend = store, base, backend
        self.lease, self.metrics = lease, metrics
        self.policy = policy
        self.tick_s = tick_s
        self.epoch = store.epoch()
        self.clock = ServiceClock(self.epoch)
        self.draining: set[str] = set()
        self.state: _State | None = None
        self._last_sweep = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: called after each leader tick (tests wait on it)
        self.on_tick: Callable[[], None] | None = None

    # -- thread --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="suanli-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.lease.release()
        except Exception:  # the database may be gone at shutdown
            log.exception("could not release the scheduler lease")

    def _run(self) -> None:
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
        if not self.lease.acquire():
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
        self._intake(st, sweep)
        self._cancellations(st)
        self._poll(st)
        now = self.clock.now()
        if st.dirty or (st.wake_h is not None and now >= st.wake_h):
            st.dirty = False
            out = st.scheduler.cycle()
            self.metrics.cycles.inc()
            st.wake_h = out.wake_h
            self._commit(st, out)
        self._seal()
        if sweep:
            self._utilization(st)
        if self.on_tick is not None:
            self.on_tick()

    # -- 1. takeover ---------------------------------------------------------------------

    def _needs_rebuild(self, st: _State) -> bool:
        self.draining.clear()
        self.draining.update(r["id"] for r in self.store.sites() if r["state"] == "draining")
        if self.clock.now() > st.horizon_h - HORIZON_MARGIN_H:
            return True
        return (self.store.meta("topology") or "") != st.topology

    def _bootstrap(self, term: int) -> _State:
        sites = self.store.sites()
        self.draining.clear()
        self.draining.update(r["id"] for r in sites if r["state"] == "draining")
        scenario = build_scenario(self.base, sites, self.store.pools(), self.store.tenants())
        now = self.clock.now()
        horizon = max(scenario.hours, int(now) + HORIZON_AHEAD_H)
        cost = CostModel(scenario, horizon_h=horizon)
        scheduler = Scheduler(
            scenario, make_policy(self.policy), self.clock, cost, rules=ServiceRules(self.draining)
        )
        st = _State(scheduler, term, self.store.meta("topology") or "", horizon)
        placed = self.store.jobs(states=("admitted", "running"), limit=10**9)
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
            st.commands[job.id] = tuple(row["doc"]["spec"]["command"])
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
        log.info(
            "scheduler leader (term %d): restored %d placed jobs, %d queued",
            term,
            len(placed) - len(lost),
            len(queued),
        )
        self._write(
            lambda conn: add_events(
                conn,
                [
                    Event(
                        "service",
                        self.lease.holder,
                        "leader.elected",
                        None,
                        None,
                        f"term {term}: restored {len(placed) - len(lost)} placed jobs, "
                        f"{len(queued)} queued",
                        self.lease.holder,
                    )
                ],
            )
        )
        return st

    # -- 2. intake -----------------------------------------------------------------------

    def _submit(self, st: _State, row: Any) -> None:
        st.scheduler.submit(to_model_job(row, self.epoch))
        st.known[row["id"]] = row["created_at"]
        st.commands[row["id"]] = tuple(row["doc"]["spec"]["command"])
        st.dirty = True

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
        if not ids:
            return
        done: list[tuple[str, str, str]] = []
        for job_id in ids:
            handle = st.handles.pop(job_id, None)
            if handle is not None:
                self.backend.cancel(handle)
            self._release(st, job_id)
            done.append((job_id, "running" if handle else "admitted", "cancelled on request"))
        self._write(lambda conn: self._finish_rows(conn, done, "cancelled"))

    def _release(self, st: _State, job_id: str) -> None:
        if job_id in st.scheduler.running:
            st.scheduler.finish(job_id)
            st.dirty = True
        st.known.pop(job_id, None)
        st.commands.pop(job_id, None)

    # -- 4. poll -------------------------------------------------------------------------

    def _poll(self, st: _State) -> None:
        ended: dict[str, list[tuple[str, str, str]]] = {}
        requeue: list[str] = []
        for job_id, handle in list(st.handles.items()):
            status = self.backend.poll(handle)
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
        if not ended and not requeue:
            return

        def write(conn: Connection) -> None:
            for state, rows in ended.items():
                self._finish_rows(conn, rows, state)
            for job_id in requeue:
                self._preempt(conn, job_id)

        self._write(write)
        for job_id in requeue:
            self._release(st, job_id)

    def _preempt(self, conn: Connection, job_id: str) -> None:
        """A run the backend lost: recorded as preempted, then queued again."""
        now = time.time()
        done = conn.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.state == "running")
            .values(
                state="queued",
                reason="preempted: the backend lost the run; requeued",
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
                    job_event(
                        job_id, "running", "preempted", "the backend lost the run", "scheduler"
                    ),
                    job_event(
                        job_id, "preempted", "queued", "requeued after preemption", "scheduler"
                    ),
                ],
                now,
            )

    # -- 6. commit -----------------------------------------------------------------------

    def _commit(self, st: _State, out: CycleOutcome) -> None:
        if out.started:
            admitted: list[Placement] = []
            stale: list[str] = []

            def admit(conn: Connection) -> None:
                admitted.clear()
                stale.clear()
                now = time.time()
                events: list[Event] = []
                for p in out.started:
                    ex = p.explanation
                    done = conn.execute(
                        update(JOBS)
                        .where(JOBS.c.id == p.job.id, JOBS.c.state == "queued")
                        .values(
                            state="admitted",
                            site=p.option.site,
                            pool=p.option.pool,
                            accelerator=p.option.accelerator,
                            start_h=p.start_h,
                            end_h=p.end_h,
                            cost_yuan=round(p.cost.total_yuan, 4),
                            reason=ex.reason,
                            updated_at=now,
                            explanation={
                                "policy": ex.policy,
                                "reason": ex.reason,
                                "excluded": ex.excluded,
                                "options": len(ex.options),
                            },
                        )
                    ).rowcount
                    if done:
                        admitted.append(p)
                        events.append(
                            job_event(
                                p.job.id,
                                "queued",
                                "admitted",
                                f"{ex.policy}: {p.option.accelerator} at {p.option.site}: "
                                f"{ex.reason}",
                                "scheduler",
                            )
                        )
                    else:
                        stale.append(p.job.id)
                add_events(conn, events, now)

            self._write(admit)
            for job_id in stale:  # cancelled while it waited
                self._release(st, job_id)
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
            self._write(lambda conn: self._finish_rows(conn, rows, "rejected"))
            for r in out.rejected:
                st.known.pop(r.job.id, None)
                self.metrics.decisions.labels("rejected").inc()

    def _launch(self, st: _State, placements: Sequence[Placement]) -> None:
        launched: list[tuple[str, str]] = []
        for p in placements:
            launch = Launch(
                p.job.id,
                st.commands.get(p.job.id, ()),
                p.option.site,
                p.option.accelerator,
                p.job.accelerators,
                p.option.runtime_h,
            )
            handle = self.backend.submit(launch)
            st.handles[p.job.id] = handle
            launched.append((p.job.id, handle))
        if not launched:
            return

        def write(conn: Connection) -> None:
            now = time.time()
            events = []
            for job_id, handle in launched:
                if conn.execute(
                    update(JOBS)
                    .where(JOBS.c.id == job_id, JOBS.c.state == "admitted")
                    .values(state="running", handle=handle, updated_at=now)
                ).rowcount:
                    events.append(
                        job_event(
                            job_id,
                            "admitted",
                            "running",
                            f"launched on the {self.backend.name} backend",
                            "scheduler",
                        )
                    )
            add_events(conn, events, now)

        self._write(write)

    def _finish_rows(
        self, conn: Connection, rows: Sequence[tuple[str, str, str]], dst: str
    ) -> None:
        now = time.time()
        events = []
        for job_id, src, reason in rows:
            if conn.execute(
                update(JOBS)
                .where(JOBS.c.id == job_id, JOBS.c.state == src)
                .values(state=dst, reason=reason, updated_at=now)
            ).rowcount:
                events.append(job_event(job_id, src, dst, reason, "scheduler"))
        add_events(conn, events, now)

    def _write(self, fn: Callable[[Connection], None]) -> None:
        """One transaction of the leader, fenced by its lease."""
        with self.store.engine.begin() as conn:
            self.lease.fence(conn)
            fn(conn)

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
        seq, prev = self.store.audit_head()
        params = []
        for row in rows:
            seq += 1
            digest = event_digest(row)
            prev = chain(prev, digest)
            params.append({"k": row["seq"], "ls": seq, "d": digest, "h": prev})

        def write(conn: Connection) -> None:
            conn.execute(
                update(EVENTS)
                .where(EVENTS.c.seq == bindparam("k"))
                .values(ledger_seq=bindparam("ls"), digest=bindparam("d"), hash=bindparam("h")),
                params,
            )

        self._write(write)

    # -- metrics -------------------------------------------------------------------------

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

"""Health and failover of sites: the scheduling loop's view of its clusters' liveness.

1. **liveness**  a prober thread per site asks the site's backend ``health()`` every
                 ``intervalS``; a site whose last good answer is older than ``downAfterS`` is
                 marked down (`Liveness`, pure: it is fed answers and their times), and up
                 again at its first good answer;
2. **down**      the site takes no new work (`ServiceRules`); each job running there is
                 re-placed where the governance rules allow (running -> preempted -> queued;
                 it resumes from its declared checkpoint, or restarts; its old run is kept as
                 a *stale copy*), or, where no other site may take it (e.g. its data may not
                 leave the site's jurisdiction), **held**: it stays where it is, not polled,
                 its reason naming every other site's refusal;
3. **up**        the stale copies on the site are cancelled (one that ended during the outage
                 is recorded as such), held jobs are polled again, the site takes new work.

Every transition is an event with its reason, sealed into the audit ledger. The down sites and
the stale copies are kept in the database (meta ``failover``), so a restarted or newly elected
leader knows them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from suanli.core.options import feasibility
from suanli.service.backends.base import BackendUnavailable, Health, RunState
from suanli.service.backends.registry import SiteBackends, split_handle
from suanli.service.jobs import to_model_job
from suanli.service.storage.repo import JOBS, META, Event, Store, add_events

if TYPE_CHECKING:
    from suanli.service.loop import SchedulingLoop, _State

META_KEY = "failover"


@dataclass(slots=True)
class Liveness:
    """Which sites are down, from their health answers and the times of those answers."""

    down_after_s: float
    #: site -> time of its last good answer (or of when it was first watched)
    last_ok: dict[str, float] = field(default_factory=dict)
    #: site -> since when it is down
    down: dict[str, float] = field(default_factory=dict)

    def observe(self, site: str, healthy: bool, at: float) -> str | None:
        """Record one answer; ``"down"`` or ``"up"`` when the site changes state."""
        if healthy:
            self.last_ok[site] = at
            if self.down.pop(site, None) is not None:
                return "up"
            return None
        since = self.last_ok.setdefault(site, at)
        if site not in self.down and at - since >= self.down_after_s:
            self.down[site] = at
            return "down"
        return None


@dataclass(frozen=True, slots=True)
class StaleCopy:
    """A run left on a site that went down, after its job was re-placed elsewhere."""

    job_id: str
    site: str
    handle: str


class Prober:
    """One thread per site asking its backend's health; the loop takes the answers."""

    def __init__(self, backends: SiteBackends, sites: Sequence[str], interval_s: float) -> None:
        self.backends, self.sites, self.interval_s = backends, list(sites), interval_s
        self._answers: dict[str, tuple[float, Health]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for site in self.sites:
            t = threading.Thread(target=self._run, args=(site,), name=f"probe-{site}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()

    def _run(self, site: str) -> None:
        while not self._stop.is_set():
            try:
                health = self.backends.site_health(site)
            except Exception as exc:  # a backend that cannot even be asked is not healthy
                health = Health(False, f"{site}: {exc}")
            with self._lock:
                self._answers[site] = (time.time(), health)
            self._stop.wait(self.interval_s)

    def take(self) -> dict[str, tuple[float, Health]]:
        with self._lock:
            answers, self._answers = self._answers, {}
        return answers


def failover_state(store: Store) -> tuple[dict[str, float], list[StaleCopy]]:
    """What the database says: down sites (-> since when) and stale copies."""
    raw = store.meta(META_KEY)
    if not raw:
        return {}, []
    data = json.loads(raw)
    down = {k: float(v) for k, v in data.get("down", {}).items()}
    return down, [StaleCopy(*s) for s in data.get("stale", [])]


class Failover:
    """Marks sites down and up, and moves, holds and cleans up their jobs (see the module)."""

    def __init__(self, loop: SchedulingLoop, backends: SiteBackends) -> None:
        self.loop, self.backends = loop, backends
        self.liveness = Liveness(backends.settings.down_after_s)
        self.stale: list[StaleCopy] = []
        self.prober = Prober(backends, sorted(backends.by_site), backends.settings.interval_s)
        self._load()

    @property
    def down(self) -> dict[str, float]:
        return self.liveness.down

    def start(self) -> None:
        now = time.time()
        for site in self.backends.by_site:
            self.liveness.last_ok.setdefault(site, now)
        self.prober.start()

    def stop(self) -> None:
        self.prober.stop()

    # -- persistence ---------------------------------------------------------------------

    def _load(self) -> None:
        down, self.stale = failover_state(self.loop.store)
        self.liveness.down.update(down)

    def save(self, conn: Connection) -> None:
        value = json.dumps(
            {
                "down": self.liveness.down,
                "stale": [[s.job_id, s.site, s.handle] for s in self.stale],
            },
            sort_keys=True,
        )
        done = conn.execute(update(META).where(META.c.key == META_KEY).values(value=value))
        if not done.rowcount:
            conn.execute(insert(META).values(key=META_KEY, value=value))

    # -- each tick -----------------------------------------------------------------------

    def tick(self, st: _State) -> str | None:
        """Apply the answers that came in; what changed (the scheduler is then rebuilt)."""
        changed = []
        for site, (at, health) in sorted(self.prober.take().items()):
            move = self.liveness.observe(site, health.healthy, at)
            if move == "down":
                self._site_down(st, site, health.detail)
                changed.append(f"{site} down")
            elif move == "up":
                self._site_up(site, health.detail)
                changed.append(f"{site} up")
            elif health.healthy and any(c.site == site for c in self.stale):
                self._record(self._clean_site(site))  # left by a cancel while it was away
        return "; ".join(changed) or None

    def leave(self, job_id: str, handle: str) -> None:
        """Remember a run that could not be stopped (its site did not answer); it is stopped
        when the site answers again. The caller saves, in its own transaction."""
        self.stale.append(StaleCopy(job_id, split_handle(handle)[0], handle))

    def skips(self, handle: str) -> bool:
        """Whether a run is left alone this tick (its site is down: nothing to ask)."""
        return split_handle(handle)[0] in self.liveness.down

    # -- down ----------------------------------------------------------------------------

    def _site_down(self, st: _State, site: str, detail: str) -> None:
        loop = self.loop
        waited = self.liveness.down[site] - self.liveness.last_ok.get(site, 0.0)
        rows = [r for r in loop.store.jobs(states=("running",), limit=10**9) if r["site"] == site]
        moves: list[tuple[str, str, str]] = []
        holds: list[tuple[str, str]] = []
        for row in rows:
            job = to_model_job(row, loop.epoch)
            check = feasibility(job, st.scheduler.cost, loop.rules)
            if check.options:
                ckpt = (row["doc"]["spec"].get("checkpoint") or {}).get("path")
                how = f"resumes from its checkpoint at {ckpt}" if ckpt else "restarts"
                moves.append((row["id"], row["handle"] or "", how))
            else:
                refusals = "; ".join(
                    f"{s}: {why}"
                    for s, why in sorted(check.excluded.items())
                    if s != site and self.backends.dispatchable(s)
                )
                holds.append(
                    (
                        row["id"],
                        f"held on {site} (down): no other site may run it: "
                        + (refusals or "no other site with a backend has a fitting pool"),
                    )
                )
        reason = f"no answer for {waited:.0f} s: {detail}"

        def write(conn: Connection) -> None:
            add_events(conn, [Event("site", site, "site.down", "up", "down", reason, "health")])
            for job_id, handle, how in moves:
                loop._preempt(
                    conn,
                    job_id,
                    f"site {site} is down ({reason})",
                    f"re-placed: site {site} is down; it {how} on another allowed site",
                )
                if handle:
                    self.stale.append(StaleCopy(job_id, site, handle))
            for job_id, why in holds:
                conn.execute(
                    update(JOBS)
                    .where(JOBS.c.id == job_id, JOBS.c.state == "running")
                    .values(reason=why, updated_at=time.time())
                )
                add_events(
                    conn, [Event("job", job_id, "held", "running", "running", why, "health")]
                )
            self.save(conn)

        loop._write(write)
        for job_id, _, _ in moves:
            st.handles.pop(job_id, None)
            loop._release(st, job_id)

    # -- up ------------------------------------------------------------------------------

    def _site_up(self, site: str, detail: str) -> None:
        loop = self.loop
        events = [Event("site", site, "site.up", "down", "up", detail, "health")]
        events += self._clean_site(site)
        with loop.store.engine.connect() as conn:
            held = [
                r[0]
                for r in conn.execute(
                    select(JOBS.c.id).where(
                        JOBS.c.site == site,
                        JOBS.c.state == "running",
                        JOBS.c.reason.like(f"held on {site}%"),
                    )
                )
            ]
        why = f"site {site} is back: the held job is followed there again"

        def write(conn: Connection) -> None:
            for job_id in held:
                conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(reason=why))
            add_events(
                conn,
                events
                + [Event("job", j, "released", "running", "running", why, "health") for j in held],
            )
            self.save(conn)

        loop._write(write)

    def _record(self, events: list[Event]) -> None:
        def write(conn: Connection) -> None:
            add_events(conn, events)
            self.save(conn)

        self.loop._write(write)

    def _clean_site(self, site: str) -> list[Event]:
        """Stop the stale copies on a site that answers; the events of what became of them."""
        events: list[Event] = []
        kept: list[StaleCopy] = []
        for copy in self.stale:
            if copy.site != site:
                kept.append(copy)
                continue
            try:
                events.append(self._clean(copy))
            except BackendUnavailable:
                kept.append(copy)  # tried again when the site answers next
        self.stale = kept
        return events

    def _clean(self, copy: StaleCopy) -> Event:
        """Stop a stale copy; the event says what became of it."""
        status = self.backends.poll(copy.handle)
        if status.state is RunState.RUNNING:
            self.backends.cancel(copy.handle)
            what = f"cancelled ({status.detail})"
        elif status.state is RunState.SUCCEEDED:
            what = f"had completed during the outage ({status.detail}); its result is not used"
        else:
            what = f"had ended during the outage: {status.detail}"
        return Event(
            "job",
            copy.job_id,
            "stale-copy",
            None,
            None,
            f"the copy left on {copy.site} when it went down ({copy.handle}): {what}",
            "health",
        )


def make_failover(loop: SchedulingLoop) -> Failover | None:
    """A failover for a loop whose backend routes sites (`SiteBackends`), else None."""
    backend: Any = loop.backend
    return Failover(loop, backend) if isinstance(backend, SiteBackends) else None

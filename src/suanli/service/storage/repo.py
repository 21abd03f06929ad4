"""The repository: every query the control plane makes, on SQLite and PostgreSQL alike.

Rows come back as mappings; `suanli.service.views` turns them into wire schemas. Writes that
change a job's state also append an event (the audit ledger's raw material) in the same
transaction, and change the state only from an expected one, so two writers never both win.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from suanli.ledger.keyring import KeyHistory
from suanli.ledger.keys import SigningKey
from suanli.ledger.ledger import canonical
from suanli.ledger.merkle import EMPTY_ROOT, leaf_hash
from suanli.model import Classification, Scenario
from suanli.service.storage.sqlite import write_transaction
from suanli.service.storage.tables import (
    CohortRow,
    EventRow,
    IdempotencyRow,
    JobRow,
    LeaseRow,
    Meta,
    PoolRow,
    PreemptionRow,
    PriorityClassRow,
    SiteRow,
    SiteSeriesRow,
    TenantRow,
    TokenRow,
)

JOBS = cast(Table, JobRow.__table__)
EVENTS = cast(Table, EventRow.__table__)
SITES = cast(Table, SiteRow.__table__)
POOLS = cast(Table, PoolRow.__table__)
TENANTS = cast(Table, TenantRow.__table__)
TOKENS = cast(Table, TokenRow.__table__)
IDEM = cast(Table, IdempotencyRow.__table__)
META = cast(Table, Meta.__table__)
LEASES = cast(Table, LeaseRow.__table__)
CLASSES = cast(Table, PriorityClassRow.__table__)
PREEMPTIONS = cast(Table, PreemptionRow.__table__)
COHORTS = cast(Table, CohortRow.__table__)
SERIES = cast(Table, SiteSeriesRow.__table__)
#: the kinds of series a site may have attached, in the order they are shown
SERIES_KINDS = ("price", "carbon")

#: meta keys of the tree-head signing key kept in the database (hex of its 32 private bytes;
#: absent when the key is kept in a file) and of the key history (`KeyHistory` JSON)
LEDGER_KEY = "ledger_key"
LEDGER_KEYS = "ledger_keys"
#: the subject and action of the event a key rotation seals into the ledger
ROTATION_SUBJECT, ROTATION_ACTION = "ledger-key", "ledger-key.rotate"

#: classes of data whose jobs wait for a regulator's approval unless the operator changes it
DEFAULT_APPROVAL = (Classification.CORE.value,)
GENESIS_HASH = EMPTY_ROOT.hex()
SCHEDULER_LEASE = "scheduler"
#: meta key of the queueing version: changed by every change of tenants, quotas and priority
#: classes, so a leader running a queueing policy rebuilds its configuration
QUEUEING_VERSION = "queueing"
#: the cohort of every queue whose tenant names none (not stored: ``tenants.cohort`` is null)
NETWORK_COHORT = "network"


class UnknownCohort(LookupError):
    """A tenant was put in a cohort that is not (or no longer) defined."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _Refused(Exception):
    """Rolls a write transaction back (`Store.delete_cohort`)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    subject: str
    subject_id: str
    action: str
    from_state: str | None
    to_state: str | None
    reason: str
    actor: str

    def row(self, at: float) -> dict[str, Any]:
        return {
            "at": at,
            "subject": self.subject,
            "subject_id": self.subject_id,
            "action": self.action,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "reason": self.reason,
            "actor": self.actor,
        }


def job_event(job_id: str, src: str | None, dst: str, reason: str, actor: str) -> Event:
    return Event("job", job_id, dst, src, dst, reason, actor)


def add_events(conn: Connection, events: Sequence[Event], at: float | None = None) -> None:
    if events:
        t = time.time() if at is None else at
        conn.execute(insert(EVENTS), [e.row(t) for e in events])


class Store:
    """The control plane's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (`suanli.service.storage.sqlite.write_transaction`)."""
        with write_transaction(self.engine) as conn:
            yield conn

    # -- setup ---------------------------------------------------------------------------

    def seed(self, scenario: Scenario) -> None:
        """On a new database: the epoch, the scenario's sites and tenants, the lease row."""
        now = time.time()
        try:
            with self.write() as conn:
                if conn.execute(select(META.c.value).where(META.c.key == "epoch")).first():
                    return
                conn.execute(
                    insert(META),
                    [
                        {"key": "epoch", "value": repr(now)},
                        {"key": "scenario", "value": scenario.name},
                        {"key": "approval", "value": json.dumps(list(DEFAULT_APPROVAL))},
                        {"key": "topology", "value": "1"},
                    ],
                )
                for site in scenario.sites.values():
                    conn.execute(
                        insert(SITES),
                        {
                            "id": site.id,
                            "name": site.name,
                            "hub": site.hub,
                            "operator": site.operator,
                            "jurisdiction": site.jurisdiction,
                            "region": site.region,
                            "lat": site.lat,
                            "lon": site.lon,
                            "pue": site.pue,
                            "power_cap_mw": site.power_cap_mw,
                            "state": "active",
                            "price": None,
                            "carbon": None,
                            "created_at": now,
                        },
                    )
                    conn.execute(
                        insert(POOLS),
                        [
                            {
                                "site_id": site.id,
                                "idx": k,
                                "accelerator": p.accelerator,
                                "nodes": p.nodes,
                                "per_node": p.per_node,
                            }
                            for k, p in enumerate(site.pools)
                        ],
                    )
                for t in scenario.tenants.values():
                    conn.execute(
                        insert(TENANTS),
                        {
                            "id": t.id,
                            "name": t.name,
                            "sector": t.sector.value,
                            "jurisdiction": t.jurisdiction,
                            "weight": t.weight,
                            "quota": dict(t.quota),
                        },
                    )
                conn.execute(
                    insert(LEASES),
                    {"name": SCHEDULER_LEASE, "holder": "", "term": 0, "expires_at": 0.0},
                )
                add_events(
                    conn,
                    [
                        Event(
                            "service",
                            "epoch",
                            "seeded",
                            None,
                            None,
                            f"database seeded from scenario {scenario.name}",
                            "system",
                        )
                    ],
                    now,
                )
        except IntegrityError:
            pass  # another replica seeded it first

    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(META.c.value).where(META.c.key == key)).scalar()

    def signing_key(self) -> SigningKey:
        """The tree-head signing key kept in the database, made by the first replica to ask."""
        value = self.meta(LEDGER_KEY)
        if value is None:
            try:
                with self.write() as conn:
                    new = secrets.token_bytes(32).hex()
                    conn.execute(insert(META), {"key": LEDGER_KEY, "value": new})
            except IntegrityError:
                pass  # another replica made it first: use that one
            value = self.meta(LEDGER_KEY)
            assert value is not None
        return SigningKey.from_seed(bytes.fromhex(value))

    def key_history(self, first: bytes | None = None) -> KeyHistory | None:
        """The history of the tree-head signing keys; on a database without one, and given
        ``first``, a history of that public key alone, written (by the first replica)."""
        value = self.meta(LEDGER_KEYS)
        if value is None and first is not None:
            try:
                with self.write() as conn:
                    doc = json.dumps(KeyHistory.first(first).to_json(), sort_keys=True)
                    conn.execute(insert(META), {"key": LEDGER_KEYS, "value": doc})
            except IntegrityError:
                pass  # another replica wrote it first: use that one
            value = self.meta(LEDGER_KEYS)
        return None if value is None else KeyHistory.from_json(json.loads(value))

    def ledger_signer(self) -> tuple[SigningKey | None, KeyHistory | None]:
        """The signing key kept in the database (None if it is kept in a file) and the key
        history, read together."""
        q = select(META.c.key, META.c.value).where(META.c.key.in_((LEDGER_KEY, LEDGER_KEYS)))
        with self.engine.connect() as conn:
            rows = {str(k): str(v) for k, v in conn.execute(q)}
        key = rows.get(LEDGER_KEY)
        history = rows.get(LEDGER_KEYS)
        return (
            None if key is None else SigningKey.from_seed(bytes.fromhex(key)),
            None if history is None else KeyHistory.from_json(json.loads(history)),
        )

    def rotate_ledger_key(
        self, old: SigningKey, new: SigningKey, keep: bool, why: str, actor: str
    ) -> KeyHistory:
        """Hand the ledger over from ``old`` (the current key) to ``new`` at the sealed tree
        size, in one transaction: the endorsement joins the history, the rotation becomes an
        event (sealed into the ledger like any other), and the database keeps ``new``'s
        private key if ``keep``, else none (the operator keeps it in a file). Raises
        `RotationConflict` if ``old`` is not the current key (another rotation came first)."""
        with self.write() as conn:
            value = conn.execute(select(META.c.value).where(META.c.key == LEDGER_KEYS)).scalar()
            if value is None:
                raise RotationConflict("the database holds no key history (start the service)")
            history = KeyHistory.from_json(json.loads(value))
            size, root = _audit_head(conn)
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            try:
                rotated = history.rotate(old, new, size, bytes.fromhex(root), at)
            except ValueError as e:
                raise RotationConflict(str(e)) from None
            done = conn.execute(
                update(META)
                .where(META.c.key == LEDGER_KEYS, META.c.value == value)
                .values(value=json.dumps(rotated.to_json(), sort_keys=True))
            )
            if done.rowcount != 1:
                raise RotationConflict("another rotation changed the key history meanwhile")
            conn.execute(META.delete().where(META.c.key == LEDGER_KEY))
            if keep:
                conn.execute(insert(META), {"key": LEDGER_KEY, "value": new.private_bytes().hex()})
            entry = rotated.current
            record = canonical({**entry.to_json(), "why": why}).decode("utf-8")
            add_events(
                conn,
                [Event(ROTATION_SUBJECT, entry.key_id, ROTATION_ACTION, None, None, record, actor)],
            )
        return rotated

    def epoch(self) -> float:
        value = self.meta("epoch")
        if value is None:
            raise RuntimeError("the database is not seeded")
        return float(value)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:
            return False

    def lease(self) -> tuple[str, float]:
        """(holder, expiry) of the scheduler lease."""
        q = select(LEASES.c.holder, LEASES.c.expires_at).where(LEASES.c.name == SCHEDULER_LEASE)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return ("", 0.0) if row is None else (str(row[0]), float(row[1]))

    # -- tokens --------------------------------------------------------------------------

    def create_token(self, role: str, tenant: str | None, label: str = "") -> str:
        token = "sl_" + secrets.token_urlsafe(32)
        with self.write() as conn:
            conn.execute(
                insert(TOKENS),
                {
                    "hash": token_hash(token),
                    "role": role,
                    "tenant": tenant,
                    "label": label,
                    "created_at": time.time(),
                },
            )
            add_events(
                conn,
                [
                    Event(
                        "token",
                        token_hash(token)[:16],
                        "token.created",
                        None,
                        None,
                        f"role {role}" + (f" tenant {tenant}" if tenant else ""),
                        "admin",
                    )
                ],
            )
        return token

    def token(self, hashed: str) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(TOKENS).where(TOKENS.c.hash == hashed)).mappings().first()

    # -- topology ------------------------------------------------------------------------

    def sites(self) -> list[RowMapping]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(select(SITES).order_by(SITES.c.created_at, SITES.c.id)).mappings()
            )

    def site(self, site_id: str) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(SITES).where(SITES.c.id == site_id)).mappings().first()

    def pools(self, site_id: str | None = None) -> list[RowMapping]:
        q = select(POOLS).order_by(POOLS.c.site_id, POOLS.c.idx)
        if site_id is not None:
            q = q.where(POOLS.c.site_id == site_id)
        with self.engine.connect() as conn:
            return list(conn.execute(q).mappings())

    def _bump_topology(self, conn: Connection) -> None:
        v = conn.execute(select(META.c.value).where(META.c.key == "topology")).scalar() or "0"
        conn.execute(update(META).where(META.c.key == "topology").values(value=str(int(v) + 1)))

    @staticmethod
    def _bump_queueing(conn: Connection) -> None:
        """A new `QUEUEING_VERSION`: a fresh random value, not a count, so that two changes
        committed at once never write the same value (a read-then-increment could, and the
        leader would miss the second). The row is made by migration 0002 (here if gone)."""
        value = secrets.token_hex(8)
        done = conn.execute(update(META).where(META.c.key == QUEUEING_VERSION).values(value=value))
        if not done.rowcount:
            conn.execute(insert(META), {"key": QUEUEING_VERSION, "value": value})

    def add_site(
        self, row: Mapping[str, Any], pools: Sequence[Mapping[str, Any]], actor: str
    ) -> bool:
        """Register a site with its pools; False if the id is taken."""
        try:
            with self.write() as conn:
                conn.execute(insert(SITES), {**row, "state": "active", "created_at": time.time()})
                conn.execute(
                    insert(POOLS),
                    [{**p, "site_id": row["id"], "idx": k} for k, p in enumerate(pools)],
                )
                self._bump_topology(conn)
                add_events(
                    conn,
                    [
                        Event(
                            "site",
                            row["id"],
                            "site.registered",
                            None,
                            "active",
                            f"{len(pools)} pools",
                            actor,
                        )
                    ],
                )
        except IntegrityError:
            return False
        return True

    def add_pool(self, site_id: str, pool: Mapping[str, Any], actor: str) -> int:
        with self.write() as conn:
            n = conn.execute(
                select(func.count()).select_from(POOLS).where(POOLS.c.site_id == site_id)
            ).scalar_one()
            conn.execute(insert(POOLS), {**pool, "site_id": site_id, "idx": n})
            self._bump_topology(conn)
            add_events(
                conn,
                [
                    Event(
                        "site",
                        site_id,
                        "pool.added",
                        None,
                        None,
                        f"pool {n}: {pool['nodes']}x{pool['per_node']} {pool['accelerator']}",
                        actor,
                    )
                ],
            )
        return int(n)

    def site_series(
        self, site_id: str | None = None, *, values: bool = True
    ) -> dict[str, dict[str, RowMapping]]:
        """Site -> kind (``price``, ``carbon``) -> its attached series (`SiteSeriesRow`); of
        one site, or of all. ``values=False`` leaves the hourly values out (a summary)."""
        cols = list(SERIES.c) if values else [c for c in SERIES.c if c.name != "hourly"]
        q = select(*cols).order_by(SERIES.c.site_id, SERIES.c.kind)
        if site_id is not None:
            q = q.where(SERIES.c.site_id == site_id)
        out: dict[str, dict[str, RowMapping]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(q).mappings():
                out.setdefault(row["site_id"], {})[row["kind"]] = row
        return out

    def set_site_series(
        self, site_id: str, series: Mapping[str, Mapping[str, Any]], actor: str
    ) -> bool:
        """Replace the series attached to a site with ``series`` (kind -> ``start``, ``hourly``,
        ``source``; a kind left out goes back to the flat figure), in one transaction that also
        records the change and bumps the topology version (so the leader rebuilds its
        scheduler); False if there is no such site."""
        now = time.time()
        with self.write() as conn:
            found = conn.execute(
                select(SITES.c.id).where(SITES.c.id == site_id).with_for_update()
            ).first()
            if found is None:
                return False
            conn.execute(delete(SERIES).where(SERIES.c.site_id == site_id))
            rows = [
                {
                    "site_id": site_id,
                    "kind": kind,
                    "start": float(s["start"]),
                    "hours": len(s["hourly"]),
                    "hourly": [float(v) for v in s["hourly"]],
                    "source": str(s["source"]),
                    "updated_at": now,
                }
                for kind, s in series.items()
            ]
            if rows:
                conn.execute(insert(SERIES), rows)
            self._bump_topology(conn)
            what = "; ".join(f"{r['kind']}: {r['hours']} h, source {r['source']!r}" for r in rows)
            add_events(
                conn,
                [
                    Event(
                        "site",
                        site_id,
                        "site.series" if rows else "site.series.cleared",
                        None,
                        None,
                        what or "flat price and carbon",
                        actor,
                    )
                ],
                now,
            )
        return True

    def set_site_state(self, site_id: str, state: str, actor: str) -> None:
        with self.write() as conn:
            old = conn.execute(select(SITES.c.state).where(SITES.c.id == site_id)).scalar()
            conn.execute(update(SITES).where(SITES.c.id == site_id).values(state=state))
            add_events(
                conn,
                [Event("site", site_id, f"site.{state}", old, state, f"set by {actor}", actor)],
            )

    def tenants(self) -> list[RowMapping]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(TENANTS).order_by(TENANTS.c.id)).mappings())

    def tenant(self, tenant_id: str) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(TENANTS).where(TENANTS.c.id == tenant_id)).mappings().first()

    def add_tenant(self, row: Mapping[str, Any], actor: str) -> bool:
        """Create a tenant (``row["cohort"]``: its queue's cohort, None or ``network``: the
        built-in one); False if the id is taken, `UnknownCohort` if the cohort is not."""
        row = {**row, "cohort": self._cohort_value(row.get("cohort"))}
        try:
            with self.write() as conn:
                self._lock_cohort(conn, row["cohort"])
                conn.execute(insert(TENANTS), {**row, "quota": {}})
                self._bump_queueing(conn)
                add_events(
                    conn,
                    [Event("tenant", row["id"], "tenant.created", None, None, row["name"], actor)],
                )
        except IntegrityError:
            return False
        return True

    def set_quota(
        self,
        tenant_id: str,
        quota: dict[str, int],
        actor: str,
        limits: dict[str, dict[str, int]] | None = None,
        cohort: str | None = None,
    ) -> None:
        """Set a tenant's nominal quota and its borrowing and lending limits (replaced), and
        with ``cohort`` move its queue to that cohort (``network``: the built-in one; None:
        it stays where it is); `UnknownCohort` (nothing changed) if the cohort is not defined."""
        limits = {k: v for k, v in (limits or {}).items() if v} or None
        values: dict[str, Any] = {"quota": quota, "limits": limits}
        with self.write() as conn:
            if cohort is not None:
                values["cohort"] = self._cohort_value(cohort)
                self._lock_cohort(conn, values["cohort"])
            conn.execute(update(TENANTS).where(TENANTS.c.id == tenant_id).values(**values))
            self._bump_queueing(conn)
            add_events(
                conn,
                [
                    Event(
                        "tenant",
                        tenant_id,
                        "quota.set",
                        None,
                        None,
                        json.dumps(quota, sort_keys=True)
                        + (f" limits {json.dumps(limits, sort_keys=True)}" if limits else "")
                        + (f" cohort {cohort}" if cohort is not None else ""),
                        actor,
                    )
                ],
            )

    # -- cohorts -------------------------------------------------------------------------

    @staticmethod
    def _cohort_value(name: str | None) -> str | None:
        """What ``tenants.cohort`` holds for cohort ``name`` (null for the built-in one)."""
        return None if name in (None, NETWORK_COHORT) else name

    @staticmethod
    def _lock_cohort(conn: Connection, name: str | None) -> None:
        """Hold the row of cohort ``name`` until the transaction ends (PostgreSQL: a row lock,
        so a concurrent `delete_cohort` waits, then sees the tenant that uses it; SQLite: one
        writer at a time anyway); `UnknownCohort` if there is none."""
        if name is None:
            return
        q = select(COHORTS.c.name).where(COHORTS.c.name == name).with_for_update()
        if conn.execute(q).first() is None:
            raise UnknownCohort(name)

    def cohorts(self) -> list[RowMapping]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(COHORTS).order_by(COHORTS.c.name)).mappings())

    def cohort(self, name: str) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(COHORTS).where(COHORTS.c.name == name)).mappings().first()

    def put_cohort(
        self, name: str, parent: str | None, description: str, actor: str
    ) -> tuple[bool, str | None]:
        """Create or replace cohort ``name``: (whether it was created, None), or (False, why
        not): ``"parent:<name>"`` for an unknown parent, ``"cycle:a -> b -> a"`` when the
        parent is ``name`` or below it, ``"raced"`` when a replica created it meanwhile (or,
        on PostgreSQL, changed the cohorts so that the two writes deadlocked)."""
        parent = self._cohort_value(parent)
        try:
            with self.write() as conn:
                try:
                    self._lock_cohort(conn, parent)
                except UnknownCohort:
                    return False, f"parent:{parent}"
                rows = conn.execute(select(COHORTS.c.name, COHORTS.c.parent))
                parents: dict[str, str | None] = {str(r.name): r.parent for r in rows}
                created = name not in parents
                parents[name] = parent
                cycle = cohort_cycle(parents, name)
                if cycle:
                    return False, "cycle:" + " -> ".join(cycle)
                if created:
                    conn.execute(
                        insert(COHORTS),
                        {
                            "name": name,
                            "parent": parent,
                            "description": description,
                            "created_at": time.time(),
                        },
                    )
                else:
                    conn.execute(
                        update(COHORTS)
                        .where(COHORTS.c.name == name)
                        .values(parent=parent, description=description)
                    )
                self._bump_queueing(conn)
                what = f"parent {parent}" if parent else "a top cohort"
                action = "cohort.created" if created else "cohort.updated"
                add_events(conn, [Event("cohort", name, action, None, None, what, actor)])
        except IntegrityError:  # a replica created it meanwhile
            return False, "raced"
        except OperationalError as exc:  # PostgreSQL: two cohorts made each other's parent
            if getattr(exc.orig, "sqlstate", None) not in ("40P01", "40001"):
                raise
            return False, "raced"
        return created, None

    def delete_cohort(self, name: str, actor: str) -> str | None:
        """Delete cohort ``name``: None, or why not: ``"missing"``, ``"tenants:a,b"`` (the
        tenants whose queues are in it), ``"cohorts:c,d"`` (the cohorts it is the parent of).
        The row is deleted first and the uses counted after, in one transaction: a concurrent
        write that puts a tenant in it (`_lock_cohort`) either waits for the delete and fails,
        or is seen here and the delete is rolled back."""
        try:
            with self.write() as conn:
                done = conn.execute(COHORTS.delete().where(COHORTS.c.name == name)).rowcount
                if not done:
                    return "missing"
                users = [
                    str(t)
                    for t in conn.execute(
                        select(TENANTS.c.id).where(TENANTS.c.cohort == name).order_by(TENANTS.c.id)
                    ).scalars()
                ]
                if users:
                    raise _Refused("tenants:" + ",".join(users))
                children = [
                    str(c)
                    for c in conn.execute(
                        select(COHORTS.c.name)
                        .where(COHORTS.c.parent == name)
                        .order_by(COHORTS.c.name)
                    ).scalars()
                ]
                if children:
                    raise _Refused("cohorts:" + ",".join(children))
                self._bump_queueing(conn)
                add_events(
                    conn, [Event("cohort", name, "cohort.deleted", None, None, "unused", actor)]
                )
        except _Refused as refused:
            return str(refused)
        return None

    # -- priority classes ----------------------------------------------------------------

    def priority_classes(self) -> list[RowMapping]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(CLASSES).order_by(CLASSES.c.name)).mappings())

    def priority_class(self, name: str) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(CLASSES).where(CLASSES.c.name == name)).mappings().first()

    def add_priority_class(self, row: Mapping[str, Any], actor: str) -> str | None:
        """Create a class; None, or why not: ``"exists"``, or ``"default:<name>"`` when
        ``row`` is a global default and class ``<name>`` already is."""
        try:
            with self.write() as conn:
                same = select(CLASSES.c.name).where(CLASSES.c.name == row["name"])
                if conn.execute(same).first():
                    return "exists"
                if row["global_default"]:
                    other = conn.execute(
                        select(CLASSES.c.name).where(CLASSES.c.global_default.is_(True))
                    ).scalar()
                    if other is not None:
                        return f"default:{other}"
                conn.execute(insert(CLASSES), {**row, "created_at": time.time()})
                self._bump_queueing(conn)
                what = f"value {row['value']}, {row['preemption_policy']}" + (
                    ", global default" if row["global_default"] else ""
                )
                created = Event(
                    "priority-class", row["name"], "class.created", None, None, what, actor
                )
                add_events(conn, [created])
        except IntegrityError:  # a replica created the name or a default meanwhile
            if self.priority_class(row["name"]) is not None:
                return "exists"
            other = next((c["name"] for c in self.priority_classes() if c["global_default"]), "")
            return f"default:{other or 'another class'}"
        return None

    def delete_priority_class(self, name: str, actor: str) -> bool:
        """Delete a class (jobs that named it keep the value they were given); False if none."""
        with self.write() as conn:
            done = conn.execute(CLASSES.delete().where(CLASSES.c.name == name)).rowcount
            if done:
                self._bump_queueing(conn)
                add_events(
                    conn,
                    [
                        Event(
                            "priority-class",
                            name,
                            "class.deleted",
                            None,
                            None,
                            "jobs that named it keep their priority",
                            actor,
                        )
                    ],
                )
        return bool(done)

    # -- policies ------------------------------------------------------------------------

    def approval_classes(self) -> list[str]:
        value = self.meta("approval")
        return list(json.loads(value)) if value else list(DEFAULT_APPROVAL)

    def set_approval_classes(self, classes: list[str], actor: str) -> None:
        with self.write() as conn:
            conn.execute(
                update(META).where(META.c.key == "approval").values(value=json.dumps(classes))
            )
            add_events(
                conn,
                [
                    Event(
                        "policy",
                        "approval",
                        "policy.set",
                        None,
                        None,
                        f"approval required for: {', '.join(classes) or 'none'}",
                        actor,
                    )
                ],
            )

    # -- jobs ----------------------------------------------------------------------------

    def job(self, job_id: str) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(JOBS).where(JOBS.c.id == job_id)).mappings().first()

    def jobs(
        self,
        *,
        tenant: str | None = None,
        states: Iterable[str] = (),
        name: str | None = None,
        after: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[RowMapping]:
        """Jobs in submission order (or newest first), after the ``seq`` ``after`` in
        that order."""
        order = JOBS.c.seq.desc() if newest_first else JOBS.c.seq
        q = select(JOBS).order_by(order).limit(limit)
        if tenant is not None:
            q = q.where(JOBS.c.tenant == tenant)
        states = list(states)
        if states:
            q = q.where(JOBS.c.state.in_(states))
        if name is not None:
            q = q.where(JOBS.c.name == name)
        if after is not None:
            q = q.where(JOBS.c.seq < after if newest_first else JOBS.c.seq > after)
        with self.engine.connect() as conn:
            return list(conn.execute(q).mappings())

    def job_events(self, job_id: str) -> list[RowMapping]:
        q = (
            select(EVENTS)
            .where(EVENTS.c.subject == "job", EVENTS.c.subject_id == job_id)
            .order_by(EVENTS.c.seq)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(q).mappings())

    def preemptions(self, limit: int, tenant: str | None = None) -> tuple[list[RowMapping], int]:
        """The ``limit`` newest preemptions (of ``tenant``'s jobs), with their job's tenant
        and name, and how many there are in all."""
        joined = PREEMPTIONS.join(JOBS, JOBS.c.id == PREEMPTIONS.c.job_id)
        # a tenant's: the range of ``ix_preemptions_tenant_seq`` (its tenant is copied in)
        mine = [PREEMPTIONS.c.tenant == tenant] if tenant is not None else []
        newest = (
            select(PREEMPTIONS.c.seq, PREEMPTIONS.c.at, PREEMPTIONS.c.job_id, PREEMPTIONS.c.reason)
            .add_columns(PREEMPTIONS.c.lost_gpu_h, JOBS.c.tenant, JOBS.c.name)
            .select_from(joined)
            .where(*mine)
            .order_by(PREEMPTIONS.c.seq.desc())
            .limit(limit)
        )
        total = (
            select(func.count()).select_from(PREEMPTIONS).where(*mine)
            if tenant is not None
            else select(func.count()).select_from(joined)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(newest).mappings()), int(conn.execute(total).scalar() or 0)

    def state_counts(self) -> dict[str, int]:
        q = select(JOBS.c.state, func.count()).group_by(JOBS.c.state)
        with self.engine.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(q)}

    def request_cancel(self, job_id: str, actor: str) -> str:
        """Cancel a job: at once if the scheduler has not placed it, else ask the leader.

        Returns the job's state afterwards.
        """
        now = time.time()
        with self.write() as conn:
            state = conn.execute(select(JOBS.c.state).where(JOBS.c.id == job_id)).scalar()
            if state in ("queued", "pending-approval"):
                done = conn.execute(
                    update(JOBS)
                    .where(JOBS.c.id == job_id, JOBS.c.state == state)
                    .values(state="cancelled", reason=f"cancelled by {actor}", updated_at=now)
                ).rowcount
                if done:
                    add_events(
                        conn,
                        [job_event(job_id, state, "cancelled", f"cancelled by {actor}", actor)],
                        now,
                    )
                    return "cancelled"
                state = conn.execute(select(JOBS.c.state).where(JOBS.c.id == job_id)).scalar()
            if state in ("admitted", "running"):
                conn.execute(
                    update(JOBS)
                    .where(JOBS.c.id == job_id)
                    .values(cancel_requested=True, updated_at=now)
                )
                add_events(
                    conn,
                    [
                        Event(
                            "job",
                            job_id,
                            "cancel-requested",
                            state,
                            state,
                            f"cancel requested by {actor}",
                            actor,
                        )
                    ],
                    now,
                )
            return str(state)

    def decide(self, job_id: str, approve: bool, reason: str, actor: str) -> bool:
        """A regulator's decision on a job pending approval; False if it is not pending."""
        dst = "queued" if approve else "rejected"
        verb = "approved" if approve else "denied"
        now = time.time()
        with self.write() as conn:
            done = conn.execute(
                update(JOBS)
                .where(JOBS.c.id == job_id, JOBS.c.state == "pending-approval")
                .values(state=dst, reason=f"{verb} by {actor}: {reason}", updated_at=now)
            ).rowcount
            if done:
                add_events(
                    conn,
                    [
                        job_event(
                            job_id, "pending-approval", dst, f"{verb} by {actor}: {reason}", actor
                        )
                    ],
                    now,
                )
        return bool(done)

    # -- audit ---------------------------------------------------------------------------

    def audit_head(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            return _audit_head(conn)

    def audit_entries(self, after: int, limit: int) -> list[RowMapping]:
        q = (
            select(EVENTS)
            .where(EVENTS.c.ledger_seq > after)
            .order_by(EVENTS.c.ledger_seq)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(q).mappings())

    def leaf_hashes(self, after: int, limit: int = 100_000) -> list[bytes]:
        """Leaf hashes of sealed entries after ``after``, in ledger order."""
        q = (
            select(EVENTS.c.digest)
            .where(EVENTS.c.ledger_seq > after)
            .order_by(EVENTS.c.ledger_seq)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [bytes.fromhex(r[0]) for r in conn.execute(q)]

    def audit_entry(self, seq: int) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(EVENTS).where(EVENTS.c.ledger_seq == seq)).mappings().first()


class RotationConflict(Exception):
    """A key rotation that cannot be made on the database as it is (the message says why)."""


def _audit_head(conn: Connection) -> tuple[int, str]:
    """(size, root hex) of the sealed ledger."""
    q = (
        select(EVENTS.c.ledger_seq, EVENTS.c.hash)
        .where(EVENTS.c.ledger_seq.is_not(None))
        .order_by(EVENTS.c.ledger_seq.desc())
        .limit(1)
    )
    row = conn.execute(q).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def cohort_cycle(parents: Mapping[str, str | None], start: str) -> list[str]:
    """The cycle of parents that ``start`` leads into (``[a, b, a]``), or ``[]``; a parent
    that is not in ``parents`` ends the walk (the built-in cohort, or one gone)."""
    path = [start]
    node = parents.get(start)
    while node is not None:
        if node in path:
            return [*path[path.index(node) :], node]
        path.append(node)
        node = parents.get(node)
    return []


def event_leaf(row: Mapping[Any, Any]) -> bytes:
    """The ledger leaf hash of an event: RFC 6962 ``SHA-256(0x00 || canonical JSON)``."""
    body = {
        k: row[k]
        for k in (
            "seq",
            "at",
            "subject",
            "subject_id",
            "action",
            "from_state",
            "to_state",
            "reason",
            "actor",
        )
    }
    return leaf_hash(canonical(body))

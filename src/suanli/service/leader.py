"""Leader election through the database: a lease row with a holder, a term and an expiry.

The leader renews its lease every tick and inside every transaction it writes (`fence`), so
a replica that lost the lease (paused, partitioned) cannot commit anything after another has
taken over: its renewal matches no row and its transaction is rolled back. A replica takes an
expired lease with a conditional update, which only one can win. Expiry uses the wall clock
of the replicas, which share it (one host or NTP).
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, select, update

from suanli.errors import SuanliError
from suanli.service.storage.repo import LEASES, SCHEDULER_LEASE
from suanli.service.storage.sqlite import write_transaction


class LostLeadership(SuanliError):
    """This replica's lease expired or was taken over."""


class LeaderLease:
    def __init__(self, engine: Engine, holder: str, ttl_s: float = 5.0) -> None:
        self.engine = engine
        self.holder = holder
        self.ttl_s = ttl_s
        #: the term this replica holds (None: not the leader)
        self.term: int | None = None

    @property
    def is_leader(self) -> bool:
        return self.term is not None

    def acquire(self) -> bool:
        """Renew the lease, or take it if it expired. True while this replica is the leader."""
        now = time.time()
        with write_transaction(self.engine) as conn:
            if self.term is not None and self._renew(conn, now):
                return True
            self.term = None
            taken = conn.execute(
                update(LEASES)
                .where(LEASES.c.name == SCHEDULER_LEASE, LEASES.c.expires_at < now)
                .values(holder=self.holder, term=LEASES.c.term + 1, expires_at=now + self.ttl_s)
            ).rowcount
            if taken:
                self.term = conn.execute(
                    select(LEASES.c.term).where(LEASES.c.name == SCHEDULER_LEASE)
                ).scalar_one()
        return self.term is not None

    def fence(self, conn: Connection) -> None:
        """Inside a leader's transaction: renew, or raise `LostLeadership` (rolling it back)."""
        if self.term is None or not self._renew(conn, time.time()):
            self.term = None
            raise LostLeadership(f"{self.holder} no longer holds the scheduler lease")

    def release(self) -> None:
        if self.term is None:
            return
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(LEASES)
                .where(
                    LEASES.c.name == SCHEDULER_LEASE,
                    LEASES.c.holder == self.holder,
                    LEASES.c.term == self.term,
                )
                .values(expires_at=0.0)
            )
        self.term = None

    def _renew(self, conn: Connection, now: float) -> bool:
        return bool(
            conn.execute(
                update(LEASES)
                .where(
                    LEASES.c.name == SCHEDULER_LEASE,
                    LEASES.c.holder == self.holder,
                    LEASES.c.term == self.term,
                )
                .values(expires_at=now + self.ttl_s)
            ).rowcount
        )

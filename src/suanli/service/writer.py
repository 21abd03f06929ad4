"""Group commit of submissions: many concurrent requests, one transaction, then their 201s.

A request hands its new job to the writer and waits; the writer takes everything that
queued up meanwhile (up to `MAX_BATCH`), writes the jobs, their idempotency keys and their
first events in one transaction, commits, and only then answers each request. So a job is
durable before its 201 is sent, at the cost of one commit per batch instead of per request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, tuple_
from sqlalchemy.exc import IntegrityError

from suanli.errors import SuanliError
from suanli.service.storage.repo import EVENTS, IDEM, JOBS, Store, job_event

MAX_BATCH = 512


class IdempotencyConflict(SuanliError):
    """The idempotency key was used before with another body."""

    def __init__(self, key: str, job_id: str) -> None:
        self.key, self.job_id = key, job_id
        super().__init__(f"Idempotency-Key {key!r} was used for job {job_id} with another body")


@dataclass(slots=True)
class NewJob:
    row: dict[str, Any]
    reason: str
    actor: str
    key: str | None = None
    body_hash: str = ""
    done: asyncio.Future[tuple[str, bool]] | None = None


class SubmissionWriter:
    """Commits submissions in batches on the event loop. ``submit`` answers (job id, created).

    A submission is queued and a flush is scheduled for the end of the current turn of the
    event loop, so every request parsed in that turn joins the same transaction. The commit
    runs on the loop itself: a thread hand-off per request costs more than it saves here,
    and requests that arrive during a commit simply form the next batch.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[NewJob] = []
        self._scheduled = False

    async def submit(self, job: NewJob) -> tuple[str, bool]:
        loop = asyncio.get_running_loop()
        job.done = loop.create_future()
        self._pending.append(job)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await job.done

    def close(self) -> None:
        if self._pending:
            self._flush()

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            self._commit(batch)

    def _commit(self, batch: list[NewJob]) -> None:
        try:
            with self.store.engine.begin() as conn:
                results = self._write(conn, batch)
        except IntegrityError:
            # a key raced with another replica: fall back to one transaction per job
            if len(batch) > 1:
                for job in batch:
                    self._commit([job])
                return
            results = None
        except Exception as exc:
            for job in batch:
                _answer(job, exc)
            return
        if results is None:
            # a single job whose key another replica has just stored: answer from it
            try:
                with self.store.engine.begin() as conn:
                    results = self._write(conn, batch)
            except Exception as exc:
                _answer(batch[0], exc)
                return
        for job, result in zip(batch, results, strict=True):
            _answer(job, result)

    def _write(self, conn: Connection, batch: list[NewJob]) -> list[tuple[str, bool] | Exception]:
        keys = [(j.row["tenant"], j.key) for j in batch if j.key is not None]
        known: dict[tuple[str, str], tuple[str, str]] = {}
        if keys:
            q = select(IDEM.c.tenant, IDEM.c.key, IDEM.c.body_hash, IDEM.c.job_id).where(
                tuple_(IDEM.c.tenant, IDEM.c.key).in_(keys)
            )
            for tenant, key, h, job_id in conn.execute(q):
                known[(tenant, key)] = (h, job_id)
        results: list[tuple[str, bool] | Exception] = []
        rows, idem, events = [], [], []
        for job in batch:
            if job.key is not None:
                k = (job.row["tenant"], job.key)
                if k in known:
                    h, job_id = known[k]
                    ok = h == job.body_hash
                    results.append((job_id, False) if ok else IdempotencyConflict(job.key, job_id))
                    continue
                known[k] = (job.body_hash, job.row["id"])
                idem.append(
                    {
                        "tenant": k[0],
                        "key": k[1],
                        "body_hash": job.body_hash,
                        "job_id": job.row["id"],
                    }
                )
            rows.append(job.row)
            events.append(
                job_event(job.row["id"], None, job.row["state"], job.reason, job.actor).row(
                    job.row["created_at"]
                )
            )
            results.append((job.row["id"], True))
        if rows:
            conn.execute(insert(JOBS), rows)
            conn.execute(insert(EVENTS), events)
        if idem:
            conn.execute(insert(IDEM), idem)
        return results


def _answer(job: NewJob, result: tuple[str, bool] | Exception) -> None:
    if job.done is None or job.done.done():
        return
    if isinstance(result, Exception):
        job.done.set_exception(result)
    else:
        job.done.set_result(result)

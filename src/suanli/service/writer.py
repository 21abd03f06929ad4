"""Group commit of submissions: many concurrent requests, one transaction, then their 201s.

A request hands its new job to the writer and waits; the writer's thread takes everything
that queued up meanwhile (up to `MAX_BATCH`), writes the jobs, their idempotency keys and their
first events in one transaction, commits, and only then answers each request. So a job is
durable before its 201 is sent, at the cost of one commit per batch instead of per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
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


Result = tuple[str, bool] | Exception


class SubmissionWriter:
    """Commits submissions in batches. ``submit`` answers (job id, created).

    The commits run back to back in a thread of their own: the moment one commits, the
    thread takes everything that queued up meanwhile (up to `MAX_BATCH`) and writes it, while
    the event loop answers the committed batch and keeps parsing requests. The thread does not
    wait for the event loop between two commits: when each batch went back through it first,
    a busy or descheduled loop left the database idle for 15-24 ms between two commits while
    requests queued (traced at 1,000 submissions/s, 2026-12-01, docs/service.md). An idle
    thread is woken once the loop has taken in the requests that arrived together, so they
    share a commit.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[NewJob] = []
        self._wake = threading.Condition()
        self._closed = False
        self._kicked = False
        #: whether the thread may take a batch (kicked, or submissions queued during a commit)
        self._ready = False
        self._thread: threading.Thread | None = None

    async def submit(self, job: NewJob) -> tuple[str, bool]:
        loop = asyncio.get_running_loop()
        job.done = loop.create_future()
        with self._wake:
            if self._closed:
                raise SuanliError("the service is shutting down")
            self._pending.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="suanli-writer", daemon=True)
                self._thread.start()
            if not self._kicked:
                # woken once the loop has taken in every request that arrived with this one
                self._kicked = True
                loop.call_soon(self._kick)
        return await job.done

    def _kick(self) -> None:
        with self._wake:
            self._kicked = False
            self._ready = True
            self._wake.notify()

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._ready and self._pending) and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = self._commit(batch)
            except Exception as exc:  # a retry after a key's race failed as well
                results = [exc] * len(batch)
            with self._wake:
                # what queued up during the commit goes next at once; else the loop kicks
                self._ready = bool(self._pending)
            # each request is answered on its own event loop (one callback per loop)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[NewJob, Result]]] = {}
            for job, result in zip(batch, results, strict=True):
                if job.done is not None:
                    by_loop.setdefault(job.done.get_loop(), []).append((job, result))
            for loop, answers in by_loop.items():
                # a closed loop raises RuntimeError: nobody waits for these answers
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_answer_all, answers)

    def _commit(self, batch: list[NewJob]) -> list[Result]:
        try:
            with self.store.write() as conn:
                return self._write(conn, batch)
        except IntegrityError:
            if len(batch) == 1:
                # its key was stored by another replica just now: answer from that
                with self.store.write() as conn:
                    return self._write(conn, batch)
            # a key raced with another replica: one transaction per job
            return [r for job in batch for r in self._commit([job])]
        except Exception as exc:
            return [exc] * len(batch)

    def _write(self, conn: Connection, batch: list[NewJob]) -> list[Result]:
        keys = [(j.row["tenant"], j.key) for j in batch if j.key is not None]
        known: dict[tuple[str, str], tuple[str, str]] = {}
        if keys:
            q = select(IDEM.c.tenant, IDEM.c.key, IDEM.c.body_hash, IDEM.c.job_id).where(
                tuple_(IDEM.c.tenant, IDEM.c.key).in_(keys)
            )
            for tenant, key, h, job_id in conn.execute(q):
                known[(tenant, key)] = (h, job_id)
        results: list[Result] = []
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


def _answer_all(answers: list[tuple[NewJob, Result]]) -> None:
    for job, result in answers:
        _answer(job, result)


def _answer(job: NewJob, result: Result) -> None:
    if job.done is None or job.done.done():
        return
    if isinstance(result, Exception):
        job.done.set_exception(result)
    else:
        job.done.set_result(result)

"""The submission writer's thread: commits back to back, batches formed by the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from suanli.service.storage import Store, make_engine, migrate
from suanli.service.storage.repo import JOBS
from suanli.service.writer import NewJob, Result, SubmissionWriter


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    engine = make_engine(sqlite_url, autocheckpoint=False)
    migrate(engine)
    yield Store(engine)
    engine.dispose()


def _job(name: str) -> NewJob:
    now = time.time()
    row: dict[str, Any] = {
        "id": f"j-{name}",
        "tenant": "fin-bank",
        "name": name,
        "state": "queued",
        "doc": {"metadata": {"name": name}, "spec": {}},
        "arrival_h": 0.0,
        "created_at": now,
        "updated_at": now,
        "reason": "submitted",
        "cancel_requested": False,
    }
    return NewJob(row, "submitted", "tenant:fin-bank/test")


def _stored(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(JOBS)).scalar_one())


def test_submissions_that_arrive_together_share_one_commit(store: Store) -> None:
    writer = SubmissionWriter(store)
    sizes: list[int] = []
    commit = writer._commit

    def counted(batch: list[NewJob]) -> list[Result]:
        sizes.append(len(batch))
        return commit(batch)

    writer._commit = counted  # type: ignore[method-assign]

    async def together() -> list[tuple[str, bool]]:
        return await asyncio.gather(*(writer.submit(_job(str(i))) for i in range(5)))

    answers = asyncio.run(together())
    writer.close()
    assert answers == [(f"j-{i}", True) for i in range(5)]
    assert sizes == [5]
    assert _stored(store) == 5


def test_what_queued_during_a_commit_is_committed_next_without_the_event_loop(
    store: Store,
) -> None:
    writer = SubmissionWriter(store)
    first_in, let_go = threading.Event(), threading.Event()
    commit = writer._commit

    def first_waits(batch: list[NewJob]) -> list[Result]:
        if not first_in.is_set():
            first_in.set()
            let_go.wait(10)
        return commit(batch)

    writer._commit = first_waits  # type: ignore[method-assign]

    async def run() -> tuple[int, list[tuple[str, bool]]]:
        a = asyncio.ensure_future(writer.submit(_job("a")))
        await asyncio.to_thread(first_in.wait, 10)
        later = [asyncio.ensure_future(writer.submit(_job(n))) for n in ("b", "c")]
        await asyncio.sleep(0)  # b and c are queued behind the commit of a
        let_go.set()
        # the event loop is blocked from here on: only the writer's thread can commit b and c
        deadline = time.monotonic() + 2
        while _stored(store) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        stored = _stored(store)
        return stored, list(await asyncio.gather(a, *later))

    stored, answers = asyncio.run(run())
    writer.close()
    assert stored == 3
    assert answers == [("j-a", True), ("j-b", True), ("j-c", True)]


def test_closing_the_writer_commits_what_is_queued_and_refuses_more(store: Store) -> None:
    writer = SubmissionWriter(store)

    async def run() -> None:
        queued = asyncio.ensure_future(writer.submit(_job("last")))
        await asyncio.sleep(0)
        await asyncio.to_thread(writer.close)
        assert await queued == ("j-last", True)
        with pytest.raises(Exception, match="shutting down"):
            await writer.submit(_job("late"))

    asyncio.run(run())
    assert _stored(store) == 1

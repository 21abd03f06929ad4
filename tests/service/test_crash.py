"""Crash safety, for real: SIGKILL under concurrent submissions, then a restart.

Every job that got its 201 is there exactly once, every job's history is a consistent chain
of states, retries with the same idempotency keys create nothing twice, and the scheduler
resumes: every job runs to completion after the restart.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from serving import ServerProcess, job_doc, prepare_db, wait_for

WORKERS = 32
LOAD_S = 1.5


async def _load(
    url: str, token: str, stop: threading.Event, acked: dict[str, str], tried: set[str]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:

        async def worker(w: int) -> None:
            i = 0
            while not stop.is_set():
                key = f"w{w}-{i}"
                i += 1
                tried.add(key)
                try:
                    r = await client.post(
                        "/v1/jobs", json=_doc(key), headers={"Idempotency-Key": key}
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code in (200, 201):
                    acked[key] = r.json()["id"]

        await asyncio.gather(*(worker(w) for w in range(WORKERS)))


def _doc(key: str) -> dict[str, Any]:
    return job_doc(
        name=key,
        accelerators={"count": 1, "types": ["A800"]},
        durationHours=1,
        deadline=None,
        data={"site": "guian", "sizeGB": 0},
    )


def _all_jobs(c: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        page = c.get("/v1/jobs", params={"limit": 1000, **({"after": after} if after else {})})
        body = page.json()
        items += body["items"]
        if body["next"] is None:
            return items
        after = body["next"]


@pytest.mark.slow
def test_a_sigkill_under_load_loses_no_acknowledged_job_and_the_scheduler_resumes(
    db_url: str,
) -> None:
    tokens = prepare_db(db_url)
    server = ServerProcess(db_url, "--fake-seconds-per-hour", "0.5", "--lease-ttl", "1")
    acked: dict[str, str] = {}
    tried: set[str] = set()
    stop = threading.Event()
    loader = threading.Thread(
        target=lambda: asyncio.run(_load(server.url, tokens["tenant"], stop, acked, tried))
    )
    loader.start()
    time.sleep(LOAD_S)
    wait_for(lambda: len(acked) >= 100, timeout=30)  # well into the load, whatever the machine
    server.kill()
    stop.set()
    loader.join(timeout=30)

    server = ServerProcess(db_url, "--fake-seconds-per-hour", "0.5", "--lease-ttl", "1")
    try:
        with httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {tokens['tenant']}"}
        ) as c:
            jobs = _all_jobs(c)
            by_name: dict[str, list[str]] = {}
            for j in jobs:
                by_name.setdefault(j["metadata"]["name"], []).append(j["id"])
            assert all(len(ids) == 1 for ids in by_name.values()), "a job exists twice"
            for key, job_id in acked.items():
                assert by_name.get(key) == [job_id], f"acknowledged job {key} is missing"
            # retries of everything (acknowledged or not) create nothing twice
            for key in sorted(tried)[:300]:
                r = c.post("/v1/jobs", json=_doc(key), headers={"Idempotency-Key": key})
                assert r.status_code in (200, 201)
                if key in acked:
                    assert r.status_code == 200 and r.json()["id"] == acked[key]
            jobs = _all_jobs(c)
            assert len({j["id"] for j in jobs}) == len(jobs)
            assert len({j["metadata"]["name"] for j in jobs}) == len(jobs)
            # the scheduler resumes: everything runs to the end
            wait_for(
                lambda: all(j["status"]["state"] == "succeeded" for j in _all_jobs(c)),
                timeout=60,
                every=0.5,
            )
            for j in jobs[:: max(1, len(jobs) // 50)]:
                chain = c.get(f"/v1/jobs/{j['id']}/events").json()
                seq = [(e["fromState"], e["toState"]) for e in chain]
                assert seq == [
                    (None, "queued"),
                    ("queued", "admitted"),
                    ("admitted", "running"),
                    ("running", "succeeded"),
                ], seq
    finally:
        server.stop()

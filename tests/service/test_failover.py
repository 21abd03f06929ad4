"""Leader failover with two replicas on one PostgreSQL: SIGKILL the leader (API and scheduler
processes); the other takes over scheduling within 10 s, and no job is admitted twice."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import psycopg
import pytest
from serving import ServerProcess, fresh_postgres_db, job_doc, prepare_db, wait_for

TTL = "2"
TAKEOVER_S = 10.0


def _doc(i: int) -> dict[str, Any]:
    return job_doc(
        name=f"f{i}",
        accelerators={"count": 1, "types": ["A800"]},
        durationHours=1,
        deadline=None,
        data={"site": "guian", "sizeGB": 0},
    )


def _leader(url: str) -> bool:
    try:
        return bool(httpx.get(f"{url}/v1/ready", timeout=2).json()["leader"])
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_killing_the_leader_hands_scheduling_to_the_other_replica_within_ten_seconds() -> None:
    url = fresh_postgres_db()
    tokens = prepare_db(url)
    args = ("--fake-seconds-per-hour", "0.5", "--lease-ttl", TTL)
    a = ServerProcess(url, *args)
    b = ServerProcess(url, *args)
    replicas = [a, b]
    try:
        wait_for(lambda: sum(_leader(r.url) for r in replicas) == 1, timeout=20)
        leader = next(r for r in replicas if _leader(r.url))
        other = b if leader is a else a
        headers = {"Authorization": f"Bearer {tokens['tenant']}"}
        sent: list[str] = []
        stop = threading.Event()

        def submit() -> None:
            with httpx.Client(base_url=other.url, headers=headers, timeout=10) as c:
                i = 0
                while not stop.is_set():
                    r = c.post("/v1/jobs", json=_doc(i), headers={"Idempotency-Key": f"f{i}"})
                    assert r.status_code == 201, r.text
                    sent.append(r.json()["id"])
                    i += 1
                    time.sleep(0.02)

        loader = threading.Thread(target=submit)
        loader.start()
        time.sleep(1.5)
        leader.kill()
        killed_at = time.monotonic()
        wait_for(lambda: _leader(other.url), timeout=TAKEOVER_S + 5, every=0.1)
        took_over = time.monotonic() - killed_at
        # a job submitted after the kill is admitted by the new leader
        with httpx.Client(base_url=other.url, headers=headers, timeout=10) as c:
            probe = c.post("/v1/jobs", json=_doc(10_000)).json()["id"]
            wait_for(
                lambda: c.get(f"/v1/jobs/{probe}").json()["status"]["state"] != "queued",
                timeout=TAKEOVER_S,
            )
            admitted_after = time.monotonic() - killed_at
            stop.set()
            loader.join(timeout=30)
            wait_for(
                lambda: all(
                    c.get(f"/v1/jobs/{j}").json()["status"]["state"] == "succeeded"
                    for j in [*sent, probe]
                ),
                timeout=60,
                every=0.5,
            )
        assert took_over < TAKEOVER_S, took_over
        assert admitted_after < TAKEOVER_S, admitted_after
        with psycopg.connect(url) as conn:
            twice = conn.execute(
                "SELECT subject_id, count(*) FROM events WHERE to_state = 'admitted' "
                "GROUP BY subject_id HAVING count(*) > 1"
            ).fetchall()
            terms = conn.execute("SELECT term FROM leases").fetchone()
        assert twice == []
        assert terms is not None and terms[0] >= 2
        print(
            f"takeover {took_over:.2f} s, first admission {admitted_after:.2f} s, {len(sent)} jobs"
        )
    finally:
        for r in replicas:
            r.stop()


def _children(pid: int) -> list[int]:
    """The scheduler processes of a replica (its spawned children, not the resource tracker)."""
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            spawned = b"spawn_main" in (stat.parent / "cmdline").read_bytes()
            if parent == pid and spawned:
                out.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return out


@pytest.mark.slow
def test_a_dead_scheduler_process_is_restarted_and_scheduling_resumes(sqlite_url: str) -> None:
    import os
    import signal

    tokens = prepare_db(sqlite_url)
    server = ServerProcess(sqlite_url, "--lease-ttl", "1")
    try:
        wait_for(lambda: _leader(server.url), timeout=20)
        (child,) = _children(server.proc.pid)
        os.kill(child, signal.SIGKILL)
        wait_for(lambda: _children(server.proc.pid) not in ([], [child]), timeout=10)
        headers = {"Authorization": f"Bearer {tokens['tenant']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as c:
            job = c.post("/v1/jobs", json=_doc(1)).json()
            wait_for(
                lambda: c.get(f"/v1/jobs/{job['id']}").json()["status"]["state"] == "succeeded",
                timeout=15,
            )
    finally:
        server.stop()

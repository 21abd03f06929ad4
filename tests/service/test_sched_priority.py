"""The scheduler's CPU priority: planning niced, write transactions not
(`suanli.service.priority`)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from serving import job_doc, running_service, submit_small_jobs
from sqlalchemy import event, text
from typer.testing import CliRunner

import suanli.service.loop as loop_module
from suanli.cli import app
from suanli.errors import SuanliError
from suanli.service import Service, ServiceConfig
from suanli.service.priority import GateThread, nice_thread, thread_nice


def test_a_niced_loop_plans_in_a_niced_thread_and_writes_at_the_priority_of_its_starter(
    sqlite_url: str,
) -> None:
    base = thread_nice()
    if base > 16:
        pytest.skip(f"the tests run at niceness {base}: no room to nice a thread by 3")
    with running_service(sqlite_url, scheduler="off") as svc, svc.client("tenant") as c:
        job_id = c.post("/v1/jobs", json=job_doc()).json()["id"]
        loop = svc.service.loop
        writes: list[tuple[int, int]] = []  # (thread, niceness) of every write transaction
        ticks: list[tuple[int, int]] = []

        def begin(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            if statement == "BEGIN IMMEDIATE":
                writes.append((threading.get_ident(), thread_nice()))

        event.listen(svc.service.engine, "before_cursor_execute", begin)
        loop.on_tick = lambda: ticks.append((threading.get_ident(), thread_nice()))
        loop.nice = 3
        loop.start()
        try:
            deadline = time.monotonic() + 30
            # the fake backend ends a run at the next poll
            while c.get(f"/v1/jobs/{job_id}").json()["status"]["state"] != "succeeded":
                assert time.monotonic() < deadline, "the job did not run in 30 s"
                time.sleep(0.05)
        finally:
            loop.stop()
            event.remove(svc.service.engine, "before_cursor_execute", begin)
        planner = {t for t, _ in ticks}
        assert len(planner) == 1 and {n for _, n in ticks} == {base + 3}
        # the lease, the admission, the launch, the end: none written by the niced thread
        assert len(writes) >= 4
        assert all(t not in planner and n == base for t, n in writes)


def test_the_gate_thread_keeps_the_niceness_of_the_thread_that_made_it() -> None:
    base = thread_nice()
    if base > 18:
        pytest.skip(f"the tests run at niceness {base}: no room to nice a thread")
    seen: dict[str, int] = {}

    def niced() -> None:
        gate = GateThread()  # made before the nice: at the starter's niceness
        nice_thread(1)
        seen["planner"] = thread_nice()
        seen["gate"] = gate.run(thread_nice)
        seen["nested"] = gate.run(lambda: gate.run(thread_nice))  # runs in place, no deadlock
        gate.close()

    t = threading.Thread(target=niced)
    t.start()
    t.join(timeout=10)
    assert seen == {"planner": base + 1, "gate": base, "nested": base}


@pytest.mark.parametrize(
    "value", [pytest.param("20", id="over-19"), pytest.param("-1", id="negative")]
)
def test_serve_refuses_a_scheduler_niceness_outside_0_to_19(value: str, sqlite_url: str) -> None:
    out = CliRunner().invoke(app, ["serve", "--db", sqlite_url, "--scheduler-nice", value])
    assert out.exit_code == 2
    assert "--scheduler-nice" in out.output


def test_a_service_configured_with_a_niceness_outside_0_to_19_is_refused(sqlite_url: str) -> None:
    with pytest.raises(SuanliError, match=r"scheduler_nice 20 is not in 0\.\.19"):
        Service(ServiceConfig(db_url=sqlite_url, backend="fake", scheduler_nice=20))


def test_a_writer_waiting_for_the_gate_gets_in_between_two_chunks_of_a_tick(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop_module, "WRITE_CHUNK", 40)
    with running_service(sqlite_url, scheduler="off") as svc, svc.client("tenant") as c:
        submit_small_jobs(c, 100)
        order: list[str] = []
        competitor: list[threading.Thread] = []

        def wait_for_the_gate() -> None:
            with svc.service.store.write() as conn:
                order.append("submission")
                conn.execute(text("SELECT 1"))

        def admits(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            if statement.startswith("UPDATE jobs SET") and "site=" in statement:
                order.append("admit")
                if not competitor:  # in the first chunk: a writer queues up behind it
                    competitor.append(threading.Thread(target=wait_for_the_gate))
                    competitor[0].start()
                    time.sleep(0.05)

        engine = svc.service.engine
        event.listen(engine, "before_cursor_execute", admits)
        try:
            svc.service.loop.step()  # admits 100 jobs in chunks of 40
        finally:
            event.remove(engine, "before_cursor_execute", admits)
        competitor[0].join(timeout=10)
        assert order == ["admit", "submission", "admit", "admit"]

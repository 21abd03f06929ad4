"""Cohorts in the service: defined over the API, a tenant's queue put in one with its quota,
and no quota lent across cohorts by the running queueing policy (docs/service.md, "Cohorts").

As in test_queueing.py, the loop is driven step by step and jobs run on V100 at br-sp, where
no seeded tenant has a quota: the tests' quotas are the only ones.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from serving import Running
from sqlalchemy import select, update
from test_queueing import BANK, HOSP, RECLAIMING, queueing, status, submit, tick, v100

from suanli.scenario import load_scenario
from suanli.service.storage import Store, make_engine, migrate
from suanli.service.storage.repo import COHORTS, TENANTS, UnknownCohort
from suanli.service.topology import build_queueing, build_scenario

CITY = "gov-city"


def put_quota(c: httpx.Client, tenant: str, **body: Any) -> httpx.Response:
    return c.put(f"/v1/tenants/{tenant}/quota", json={"accelerators": {"V100": 8}, **body})


def problem(r: httpx.Response, code: int, field: str) -> str:
    assert r.status_code == code, r.text
    assert r.json()["errors"][0]["field"] == field, r.json()
    return str(r.json()["detail"])


def test_a_cohort_is_created_replaced_listed_given_tenants_and_deleted_once_unused(
    svc: Running,
) -> None:
    with svc.client() as op:
        made = op.put("/v1/cohorts/public", json={"description": "hospitals and the city"})
        assert made.status_code == 201, made.text
        assert made.headers["location"] == "/v1/cohorts/public"
        assert made.json()["parent"] is None and made.json()["tenants"] == []
        assert op.put("/v1/cohorts/care", json={"parent": "public"}).status_code == 201
        again = op.put("/v1/cohorts/care", json={"description": "the care sector"})
        assert again.status_code == 200 and again.json()["parent"] is None  # replaced
        assert again.json()["description"] == "the care sector"
        r = put_quota(op, HOSP, cohort="public")
        assert r.status_code == 200 and r.json()["cohort"] == "public", r.text
        assert put_quota(op, CITY, cohort="public").status_code == 200
        assert op.get(f"/v1/tenants/{HOSP}/quota").json()["cohort"] == "public"
        assert op.get(f"/v1/tenants/{HOSP}").json()["cohort"] == "public"
        assert op.get(f"/v1/tenants/{BANK}").json()["cohort"] == "network"  # as before
        # a quota set again without a cohort keeps the queue where it is
        kept = put_quota(op, HOSP, borrowingLimit={"V100": 2})
        assert kept.status_code == 200 and kept.json()["cohort"] == "public", kept.text
        assert op.get(f"/v1/tenants/{HOSP}/quota").json()["cohort"] == "public"
        listed = {c["name"]: c for c in op.get("/v1/cohorts").json()}
        assert list(listed) == ["network", "care", "public"]
        assert listed["network"]["builtIn"] and BANK in listed["network"]["tenants"]
        assert HOSP not in listed["network"]["tenants"]
        assert listed["public"]["tenants"] == [CITY, HOSP]
        assert op.get("/v1/cohorts/public").json()["tenants"] == [CITY, HOSP]
        view = op.get("/v1/queues").json()  # the dashboard's queue page
        assert [c["name"] for c in view["cohorts"]] == ["network", "care", "public"]
        assert {t["id"]: t["cohort"] for t in view["tenants"]}[HOSP] == "public"
        with svc.client("other") as hosp:  # a tenant: only its own queue's cohort
            mine = hosp.get("/v1/queues").json()["cohorts"]
            assert [(c["name"], c["tenants"]) for c in mine] == [("public", [HOSP])]
        # in use: a 409 naming the tenants; unused once they moved back to network
        detail = problem(op.delete("/v1/cohorts/public"), 409, "name")
        assert CITY in detail and HOSP in detail, detail
        assert op.get("/v1/cohorts/public").status_code == 200  # still there
        for tenant in (HOSP, CITY):
            assert put_quota(op, tenant, cohort="network").status_code == 200
        assert op.get(f"/v1/tenants/{HOSP}").json()["cohort"] == "network"
        assert op.delete("/v1/cohorts/public").status_code == 204
        assert op.get("/v1/cohorts/public").status_code == 404
        assert op.delete("/v1/cohorts/public").status_code == 404


def test_cohort_errors_name_the_field_and_the_cohort(svc: Running) -> None:
    with svc.client() as op, svc.client("tenant") as ten:
        assert op.put("/v1/cohorts/a", json={}).status_code == 201
        assert op.put("/v1/cohorts/b", json={"parent": "a"}).status_code == 201
        assert op.put("/v1/cohorts/c", json={"parent": "b"}).status_code == 201
        detail = problem(op.put("/v1/cohorts/a", json={"parent": "c"}), 422, "parent")
        assert "cohort 'a'" in detail and "a -> c -> b -> a" in detail, detail
        assert op.get("/v1/cohorts/a").json()["parent"] is None  # unchanged
        detail = problem(op.put("/v1/cohorts/a", json={"parent": "a"}), 422, "parent")
        assert "a -> a" in detail, detail
        detail = problem(op.put("/v1/cohorts/d", json={"parent": "nowhere"}), 422, "parent")
        assert "unknown parent cohort 'nowhere'" in detail, detail
        assert op.get("/v1/cohorts/d").status_code == 404  # not made
        assert op.put("/v1/cohorts/d", json={"parent": "network"}).status_code == 201
        # a parent in use is not deleted either
        detail = problem(op.delete("/v1/cohorts/b"), 409, "name")
        assert "parent of cohorts c" in detail, detail
        # the built-in cohort is neither redefined nor deleted
        problem(op.put("/v1/cohorts/network", json={}), 409, "name")
        problem(op.delete("/v1/cohorts/network"), 409, "name")
        # a tenant's queue goes only into a defined cohort
        seeded = op.get(f"/v1/tenants/{HOSP}/quota").json()
        detail = problem(put_quota(op, HOSP, cohort="nowhere"), 422, "cohort")
        assert "unknown cohort 'nowhere'" in detail and "network, a, b, c, d" in detail, detail
        assert op.get(f"/v1/tenants/{HOSP}/quota").json() == seeded  # nothing changed
        problem(put_quota(op, HOSP, cohort="-bad"), 422, "cohort")
        new = {"id": "t-new", "name": "New", "sector": "public-services", "jurisdiction": "CN"}
        problem(op.post("/v1/tenants", json={**new, "cohort": "nowhere"}), 422, "cohort")
        assert op.get("/v1/tenants/t-new").status_code == 404
        made = op.post("/v1/tenants", json={**new, "cohort": "a"})
        assert made.status_code == 201 and made.json()["cohort"] == "a", made.text
        # a negative limit, with the cohort given too: nothing is changed
        bad = put_quota(op, HOSP, cohort="a", borrowingLimit={"V100": -1})
        problem(bad, 422, "borrowingLimit.V100")
        assert op.get(f"/v1/tenants/{HOSP}").json()["cohort"] == "network"
        for bad_body, field in [({"parent": "-x"}, "parent"), ({"colour": "red"}, "colour")]:
            problem(op.put("/v1/cohorts/e", json=bad_body), 422, field)
        # writes are the operator's; a tenant reads its own queue's cohort in its quota
        assert ten.put("/v1/cohorts/x", json={}).status_code == 403
        assert ten.delete("/v1/cohorts/a").status_code == 403
        assert ten.get("/v1/cohorts").status_code == 403
        assert ten.get(f"/v1/tenants/{BANK}/quota").json()["cohort"] == "network"


@pytest.mark.parametrize("policy", RECLAIMING)
def test_two_cohorts_do_not_lend_to_each_other_and_a_move_takes_effect_at_the_next_cycle(
    db_url: str, policy: str
) -> None:
    """The hospitals and the city lend to each other, not to the bank (in ``network``): the
    bank's second job waits while the hospitals borrow the city's idle quota; once the bank's
    queue is moved into their cohort, it borrows too."""
    with queueing(db_url, policy) as svc, svc.client() as op:
        assert op.put("/v1/cohorts/public", json={}).status_code == 201
        assert put_quota(op, BANK).status_code == 200
        for tenant in (HOSP, CITY):
            assert put_quota(op, tenant, cohort="public").status_code == 200
        a1, a2 = submit(op, v100(BANK, "a1")), submit(op, v100(BANK, "a2"))
        h1, h2 = submit(op, v100(HOSP, "h1")), submit(op, v100(HOSP, "h2"))
        tick(svc)
        tick(svc)
        assert status(op, a1)["state"] == "running"
        waiting = status(op, a2)
        assert waiting["state"] == "queued", waiting  # nothing idle in network to borrow
        assert "no V100 quota left" in waiting["reason"], waiting["reason"]
        assert [status(op, h)["state"] for h in (h1, h2)] == ["running", "running"]  # borrows
        loop = svc.service.loop
        assert loop.state is not None
        cohorts = {q.name: q.cohort for q in loop.state.scheduler.scenario.queueing.queues.values()}
        assert (cohorts[BANK], cohorts[HOSP], cohorts[CITY]) == ("network", "public", "public")
        # the city takes its quota back from the hospitals; the bank still waits
        c1 = submit(op, v100(CITY, "c1"))
        tick(svc)
        tick(svc)
        assert status(op, c1)["state"] == "running"
        assert sorted(status(op, h)["state"] for h in (h1, h2)) == ["queued", "running"]
        assert status(op, a2)["state"] == "queued"
        # the preemption is the hospitals' (its tenant recorded with it), not the bank's
        (victim,) = [h for h in (h1, h2) if status(op, h)["state"] == "queued"]
        with svc.client("other") as hosp, svc.client("tenant") as bank:
            mine = hosp.get("/v1/queues").json()
            assert [p["jobId"] for p in mine["preemptions"]] == [victim]
            assert mine["preemptionsTotal"] == 1 and mine["tenants"][0]["cohort"] == "public"
            theirs = bank.get("/v1/queues").json()
            assert (theirs["preemptions"], theirs["preemptionsTotal"]) == ([], 0)
            assert theirs["tenants"][0]["cohort"] == "network"
        # the bank's queue moves into the hospitals' cohort: the scheduler is rebuilt with it
        # and the bank borrows the hospitals' idle quota once theirs is done
        for h in (h1, h2):
            assert op.post(f"/v1/jobs/{h}/cancel").status_code == 200
        moved = put_quota(op, BANK, cohort="public")
        assert moved.status_code == 200, moved.text
        for _ in range(3):
            tick(svc)
        assert status(op, a2)["state"] == "running", status(op, a2)


def test_build_queueing_puts_each_queue_in_its_tenants_cohort(svc: Running) -> None:
    store = svc.service.store
    assert store.put_cohort("public", None, "", "test") == (True, None)
    assert store.put_cohort("care", "public", "", "test") == (True, None)
    store.set_quota(HOSP, {"V100": 8}, "test", cohort="care")
    store.set_quota(CITY, {"V100": 8}, "test", cohort="public")
    scenario = build_scenario(svc.service.scenario, store.sites(), store.pools(), store.tenants())
    config, ignored = build_queueing(scenario, store.tenants(), cohorts=store.cohorts())
    assert ignored == []
    assert config.queues[HOSP].cohort == "care" and config.queues[CITY].cohort == "public"
    assert config.queues[BANK].cohort == "network"
    assert config.root("care") == "public"  # accounted together with public
    # rows the API would not make (a race of replicas) are not fatal: named and left out
    rows = [
        {"name": "x", "parent": "y"},
        {"name": "y", "parent": "x"},
        {"name": "z", "parent": "gone"},
    ]
    tenants = [{**t, "cohort": "gone"} if t["id"] == BANK else t for t in store.tenants()]
    config, ignored = build_queueing(scenario, tenants, cohorts=rows)
    assert config.queues[BANK].cohort == "network"
    assert any("tenant fin-bank: cohort 'gone' is not defined" in line for line in ignored)
    assert any("cohort z: parent 'gone'" in line for line in ignored)
    assert any("cycle x -> y -> x" in line for line in ignored), ignored
    assert config.root("x") in ("x", "y")


@pytest.mark.parametrize("first", ["assign", "delete"])
def test_a_cohort_deleted_while_a_tenant_is_put_in_it_is_never_left_in_use(
    postgres_url: str, first: str
) -> None:
    """PostgreSQL, two transactions at once: a tenant put in the cohort (its row held) while
    the cohort is deleted. Whichever commits first wins; the other is refused, and no tenant
    is left in a cohort that is gone."""
    engine = make_engine(postgres_url)
    try:
        migrate(engine)
        store = Store(engine)
        store.seed(load_scenario("china-edwc"))
        assert store.put_cohort("public", None, "", "test") == (True, None)
        done: list[object] = []
        if first == "assign":  # holds the row, then the delete waits for it
            with engine.begin() as conn:
                conn.execute(
                    select(COHORTS.c.name).where(COHORTS.c.name == "public").with_for_update()
                )
                conn.execute(update(TENANTS).where(TENANTS.c.id == HOSP).values(cohort="public"))
                t = threading.Thread(target=lambda: done.append(store.delete_cohort("public", "t")))
                t.start()
                time.sleep(0.5)
                assert done == []  # waiting for the row
            t.join(10)
            assert done == [f"tenants:{HOSP}"]
            assert store.cohort("public") is not None
        else:  # the delete holds the row; the assignment waits, then finds it gone
            with engine.begin() as conn:
                conn.execute(COHORTS.delete().where(COHORTS.c.name == "public"))

                def assign() -> None:
                    try:
                        store.set_quota(HOSP, {"V100": 8}, "t", cohort="public")
                        done.append("assigned")
                    except UnknownCohort as exc:
                        done.append(exc.name)

                t = threading.Thread(target=assign)
                t.start()
                time.sleep(0.5)
                assert done == []
            t.join(10)
            assert done == ["public"]
            assert store.cohort("public") is None
        tenant = store.tenant(HOSP)
        assert tenant is not None
        assert tenant["cohort"] is None or store.cohort(tenant["cohort"]) is not None
    finally:
        engine.dispose()


def test_two_cohorts_made_each_others_parent_at_once_are_refused_not_a_server_error(
    postgres_url: str,
) -> None:
    """PostgreSQL: ``a`` under ``b`` and ``b`` under ``a`` at once deadlock on the two rows; the
    write PostgreSQL aborts answers "raced" (a 409: try again), and no cycle is stored."""
    engine = make_engine(postgres_url)
    try:
        migrate(engine)
        store = Store(engine)
        for name in ("a", "b"):
            assert store.put_cohort(name, None, "", "test") == (True, None)
        done: list[object] = []
        with engine.begin() as conn:  # the first write of "a under b": b's row held
            conn.execute(select(COHORTS.c.name).where(COHORTS.c.name == "b").with_for_update())
            t = threading.Thread(target=lambda: done.append(store.put_cohort("b", "a", "", "t")))
            t.start()
            time.sleep(0.3)  # it holds a's row and waits for b's
            conn.execute(update(COHORTS).where(COHORTS.c.name == "a").values(parent="b"))
            t.join(10)
        assert done == [(False, "raced")]
        assert {r["name"]: r["parent"] for r in store.cohorts()} == {"a": "b", "b": None}
    finally:
        engine.dispose()

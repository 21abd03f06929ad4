"""The schema's migrations: a database made by an earlier revision is brought to the newest
with its rows kept."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from suanli.scenario import load_scenario
from suanli.service.storage import Store, make_engine, migrate
from suanli.service.storage.db import MIGRATIONS
from suanli.service.storage.repo import EVENTS, JOBS, PREEMPTIONS, TENANTS, job_event

#: the newest revision
HEAD = "0005"


def _to(engine: Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_a_database_of_revision_0001_upgrades_to_the_newest_with_its_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        _to(engine, "0001")
        assert "priority_classes" not in inspect(engine).get_table_names()
        store = Store(engine)
        store.seed(load_scenario("china-edwc"))
        with engine.begin() as conn:  # what revision 0001 has: no limits column yet
            conn.execute(
                update(TENANTS).where(TENANTS.c.id == "fin-bank").values(quota={"A100": 8})
            )
        migrate(engine)
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == HEAD
        assert "priority_classes" in inspect(engine).get_table_names()
        tenant = store.tenant("fin-bank")
        assert tenant is not None and tenant["quota"] == {"A100": 8}
        assert tenant["limits"] is None  # the new column: no limits
        store.set_quota("fin-bank", {"A100": 8}, "test", {"borrowing": {"A100": 2}})
        tenant = store.tenant("fin-bank")
        assert tenant is not None and tenant["limits"] == {"borrowing": {"A100": 2}}
        assert store.add_priority_class(_class("a", True), "test") is None
        assert store.add_priority_class(_class("b", False), "test") is None
        assert store.add_priority_class(_class("c", True), "test") == "default:a"
        # the partial unique index holds even for a writer that skips the check
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO priority_classes (name, value, preemption_policy, "
                    "global_default, description, created_at) "
                    "VALUES ('d', 1, 'Never', :t, '', 0)"
                ),
                {"t": True},
            )
        assert [r["name"] for r in store.priority_classes()] == ["a", "b"]
        migrate(engine)  # at the head: nothing to do
    finally:
        engine.dispose()


def _class(name: str, default: bool) -> dict[str, object]:
    return {
        "name": name,
        "value": 1,
        "preemption_policy": "PreemptLowerPriority",
        "global_default": default,
        "description": "",
    }


def test_revision_0002_downgrades_to_0001_and_upgrades_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        Store(engine).seed(load_scenario("china-edwc"))
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        assert "priority_classes" not in inspect(engine).get_table_names()
        assert "limits" not in {c["name"] for c in inspect(engine).get_columns("tenants")}
        migrate(engine)
        assert "limits" in {c["name"] for c in inspect(engine).get_columns("tenants")}
        assert Store(engine).tenant("fin-bank") is not None
    finally:
        engine.dispose()


def test_revision_0003_keeps_the_preemptions_the_events_recorded_before_it(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        _to(engine, "0002")
        with engine.begin() as conn:  # what revision 0002 records of a preemption: its events
            conn.execute(
                EVENTS.insert(),
                [
                    job_event("j-1", "running", "preempted", "reclaimed by q for j-2", "s").row(10),
                    job_event("j-1", "preempted", "queued", "requeued", "s").row(10),
                    job_event("j-3", "queued", "admitted", "placed", "s").row(11),
                ],
            )
        migrate(engine)
        with engine.connect() as conn:
            rows = conn.execute(select(PREEMPTIONS)).mappings().all()
        assert [(r["at"], r["job_id"], r["reason"], r["lost_gpu_h"]) for r in rows] == [
            (10.0, "j-1", "reclaimed by q for j-2", None)  # no policy measured its lost work
        ]
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        assert "preemptions" not in inspect(engine).get_table_names()
        migrate(engine)
        assert "preemptions" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_revision_0004_adds_cohorts_and_copies_each_preemptions_tenant(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        _to(engine, "0003")
        store = Store(engine)
        store.seed(load_scenario("china-edwc"))
        job = {
            "tenant": "fin-bank",
            "name": "a1",
            "state": "queued",
            "doc": {},
            "arrival_h": 0.0,
            "created_at": 0.0,
            "updated_at": 0.0,
            "reason": "",
            "cancel_requested": False,
        }
        with engine.begin() as conn:  # revision 0003: preemptions without their tenant
            conn.execute(JOBS.insert(), [{**job, "id": "j-1"}, {**job, "id": "j-2"}])
            conn.execute(
                text(
                    "INSERT INTO preemptions (at, job_id, reason) VALUES "
                    "(1, 'j-1', 'r'), (2, 'j-gone', 'r'), (3, 'j-2', 'r')"
                )
            )
        migrate(engine)
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            rows = conn.execute(text("SELECT job_id, tenant FROM preemptions ORDER BY seq")).all()
        assert version == HEAD
        assert [tuple(r) for r in rows] == [
            ("j-1", "fin-bank"),
            ("j-gone", None),  # no such job: no tenant
            ("j-2", "fin-bank"),
        ]
        indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("preemptions")}
        assert indexes["ix_preemptions_tenant_seq"] == ["tenant", "seq"]
        newest, total = store.preemptions(10, "fin-bank")
        assert ([r["job_id"] for r in newest], total) == (["j-2", "j-1"], 2)
        assert store.preemptions(10)[1] == 2  # every preemption of a stored job
        tenant = store.tenant("fin-bank")
        assert tenant is not None and tenant["cohort"] is None  # in network, as before
        assert store.put_cohort("public", None, "", "test") == (True, None)
        store.set_quota("fin-bank", {"A100": 8}, "test", cohort="public")
        assert store.delete_cohort("public", "test") == "tenants:fin-bank"
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")
        assert "cohorts" not in inspect(engine).get_table_names()
        assert "cohort" not in {c["name"] for c in inspect(engine).get_columns("tenants")}
        assert "tenant" not in {c["name"] for c in inspect(engine).get_columns("preemptions")}
        assert {i["name"] for i in inspect(engine).get_indexes("preemptions")} == {
            "ix_preemptions_job"
        }
        migrate(engine)
        tenant = store.tenant("fin-bank")
        assert tenant is not None and tenant["cohort"] is None and tenant["quota"] == {"A100": 8}
    finally:
        engine.dispose()


def _partner_site(site_id: str) -> dict[str, object]:
    return {
        "id": site_id,
        "name": "partner",
        "hub": "hk",
        "operator": "partner",
        "jurisdiction": "HK",
        "region": "partner",
        "lat": 22.3,
        "lon": 114.2,
        "pue": 1.3,
        "power_cap_mw": 10.0,
        "price": 0.9,
        "carbon": 0.6,
    }


def test_revision_0005_adds_site_series_and_a_registered_site_keeps_its_flat_figures(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    try:
        _to(engine, "0004")
        store = Store(engine)
        store.seed(load_scenario("china-edwc"))
        pool = {"accelerator": "H100", "nodes": 1, "per_node": 8}
        assert store.add_site(_partner_site("hk-1"), [pool], "test")  # revision 0004's row
        migrate(engine)
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == HEAD
        assert "site_series" in inspect(engine).get_table_names()
        site = store.site("hk-1")
        assert site is not None and (site["price"], site["carbon"]) == (0.9, 0.6)
        assert store.site_series() == {}  # no series: flat figures, as before
        topology = store.meta("topology")
        series = {"start": 1.7e9, "hourly": [0.5, 0.25], "source": "estimate"}
        assert store.set_site_series("hk-1", {"price": series}, "test")
        assert not store.set_site_series("no-such-site", {"price": series}, "test")
        assert store.meta("topology") != topology  # the leader rebuilds
        got = store.site_series("hk-1")["hk-1"]["price"]
        assert (got["start"], got["hourly"], got["hours"], got["source"]) == (
            1.7e9,
            [0.5, 0.25],
            2,
            "estimate",
        )
        summary = store.site_series(values=False)["hk-1"]["price"]
        assert "hourly" not in summary and summary["hours"] == 2
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004")
        assert "site_series" not in inspect(engine).get_table_names()
        assert store.site("hk-1") is not None
        migrate(engine)
        assert store.site_series() == {}
    finally:
        engine.dispose()

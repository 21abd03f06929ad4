"""Hourly price and carbon series attached to a registered site (``/v1/sites/{id}/energy``):
the API and its validation, the mapping onto the scheduler's hours, and the behaviour that is
the point of it: the ``suanli`` policy (``suanli serve``'s default) moves a deferrable job to
the hours the series makes cheap and green, and back when the series is detached.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serving import Running, job_doc, running_service
from sqlalchemy import select

from suanli.service.backends import FakeBackend
from suanli.service.schemas import MAX_SERIES_HOURS
from suanli.service.storage.repo import EVENTS
from suanli.service.topology import build_scenario, on_service_hours

HOUR = 3600.0


def _site(site_id: str, accelerator: str = "H100", nodes: int = 2) -> dict[str, Any]:
    return {
        "id": site_id,
        "name": "partner",
        "hub": "hk",
        "jurisdiction": "HK",
        "lat": 22.3,
        "lon": 114.2,
        "pue": 1.3,
        "pools": [{"accelerator": accelerator, "nodes": nodes, "perNode": 8}],
        "priceYuanPerKwh": 0.9,
        "carbonKgPerKwh": 0.6,
    }


def _this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _series(values: list[float], source: str = "estimate", **changes: Any) -> dict[str, Any]:
    return {"start": _this_hour().isoformat(), "values": values, "source": source, **changes}


def _register(c: httpx.Client, accelerator: str = "H100", nodes: int = 2) -> str:
    site_id = "e" + uuid.uuid4().hex[:10]
    r = c.post("/v1/sites", json=_site(site_id, accelerator, nodes))
    assert r.status_code == 201, r.text
    return site_id


# -- the API ---------------------------------------------------------------------------


def test_series_are_attached_read_back_shown_on_the_site_replaced_and_detached(
    svc: Running,
) -> None:
    with svc.client("operator") as op, svc.client("tenant") as ten:
        site = _register(op)
        assert op.get(f"/v1/sites/{site}/energy").json() == {
            "site": site,
            "priceYuanPerKwh": None,
            "carbonKgPerKwh": None,
        }
        body = {
            "priceYuanPerKwh": {
                "start": "2026-12-01T08:00:00+08:00",  # 00:00 UTC
                "values": [1.2, 0.3, 0.31],
                "source": "Guangdong TOU tariff 2026 (estimate of the shoulder hours)",
            },
            "carbonKgPerKwh": {
                "start": "2026-12-01T00:00:00Z",
                "values": [0.5] * 24,
                "source": "estimate",
            },
        }
        r = op.put(f"/v1/sites/{site}/energy", json=body)
        assert r.status_code == 200, r.text
        got = r.json()
        price, carbon = got["priceYuanPerKwh"], got["carbonKgPerKwh"]
        start = datetime(2026, 12, 1, tzinfo=UTC)
        assert datetime.fromisoformat(price["start"]) == start  # on the UTC time base
        assert datetime.fromisoformat(price["end"]) == start + timedelta(hours=3)
        assert (price["hours"], price["values"]) == (3, [1.2, 0.3, 0.31])
        assert price["source"].startswith("Guangdong TOU")
        assert (carbon["hours"], carbon["source"]) == (24, "estimate")
        assert op.get(f"/v1/sites/{site}/energy").json() == got
        assert ten.get(f"/v1/sites/{site}/energy").json() == got  # tenants may read it
        # the site says what is attached and where it comes from, without the values
        for shown in (
            op.get(f"/v1/sites/{site}").json(),
            next(s for s in op.get("/v1/sites").json() if s["id"] == site),
        ):
            energy = shown["energy"]
            assert energy["priceYuanPerKwh"]["source"].startswith("Guangdong TOU")
            assert energy["carbonKgPerKwh"]["hours"] == 24
            assert "values" not in energy["priceYuanPerKwh"]
        # the dashboard's site page says where the figures come from
        curves = op.get(f"/v1/sites/{site}/series").json()
        assert curves["priceSource"].startswith("Guangdong TOU")
        assert curves["carbonSource"] == "estimate (hourly series attached, 24 h)"
        assert op.get("/v1/sites/guian/series").json()["priceSource"] == (
            "the scenario's series (china-edwc)"
        )
        # a PUT replaces the whole: the price left out goes back to the flat figure
        r = op.put(f"/v1/sites/{site}/energy", json={"carbonKgPerKwh": body["carbonKgPerKwh"]})
        assert r.status_code == 200 and r.json()["priceYuanPerKwh"] is None
        assert op.get(f"/v1/sites/{site}").json()["energy"]["priceYuanPerKwh"] is None
        assert op.delete(f"/v1/sites/{site}/energy").status_code == 204
        assert op.get(f"/v1/sites/{site}/energy").json()["carbonKgPerKwh"] is None
        assert op.get(f"/v1/sites/{site}").json()["energy"] == {
            "priceYuanPerKwh": None,
            "carbonKgPerKwh": None,
        }
        assert op.get(f"/v1/sites/{site}/series").json()["carbonSource"] == (
            "flat figure given at registration (no series attached)"
        )
        assert op.delete(f"/v1/sites/{site}/energy").status_code == 204  # idempotent
        for method in ("GET", "PUT", "DELETE"):
            r = op.request(method, "/v1/sites/no-such-site/energy", json=body)
            assert r.status_code == 404, (method, r.text)
        with svc.service.engine.connect() as conn:
            actions = conn.execute(
                select(EVENTS.c.action)
                .where(EVENTS.c.subject_id == site, EVENTS.c.action.like("site.series%"))
                .order_by(EVENTS.c.seq)
            ).scalars()
            assert list(actions) == ["site.series"] * 2 + ["site.series.cleared"] * 2


def test_a_full_leap_year_of_values_is_accepted(svc: Running) -> None:
    with svc.client("operator") as op:
        site = _register(op)
        values = [round(0.3 + 0.1 * (h % 24) / 24, 4) for h in range(MAX_SERIES_HOURS)]
        body = {"priceYuanPerKwh": _series(values), "carbonKgPerKwh": _series(values)}
        r = op.put(f"/v1/sites/{site}/energy", json=body)
        assert r.status_code == 200, r.text[:300]
        assert r.json()["priceYuanPerKwh"]["hours"] == MAX_SERIES_HOURS == 8784


def _bad(**price: Any) -> dict[str, Any]:
    return {"priceYuanPerKwh": {**_series([0.5, 0.6]), **price}}


TOO_LATE = (datetime.now(UTC) + timedelta(days=400)).isoformat()

BAD_BODIES: list[tuple[str, Any, str]] = [
    ("empty values", _bad(values=[]), "priceYuanPerKwh.values"),
    ("too cheap", _bad(values=[0.5, -101.0]), "priceYuanPerKwh.values[1]"),
    ("not a number", _bad(values=[0.5, "cheap"]), "priceYuanPerKwh.values[1]"),
    ("too dear", _bad(values=[101.0]), "priceYuanPerKwh.values[0]"),
    ("too long", _bad(values=[0.5] * (MAX_SERIES_HOURS + 1)), "priceYuanPerKwh.values"),
    (
        "no source",
        {"priceYuanPerKwh": {"start": _this_hour().isoformat(), "values": [1.0]}},
        "priceYuanPerKwh.source",
    ),
    ("blank source", _bad(source="   "), "priceYuanPerKwh.source"),
    ("empty source", _bad(source=""), "priceYuanPerKwh.source"),
    (
        "no start",
        {"priceYuanPerKwh": {"values": [1.0], "source": "estimate"}},
        "priceYuanPerKwh.start",
    ),
    ("start without offset", _bad(start="2026-12-01T00:00:00"), "priceYuanPerKwh.start"),
    ("start not a time", _bad(start="yesterday"), "priceYuanPerKwh.start"),
    ("start in 1970", _bad(start="1970-01-01T00:00:00Z"), "priceYuanPerKwh.start"),
    ("start over a year ahead", _bad(start=TOO_LATE), "priceYuanPerKwh.start"),
    ("unknown field", _bad(unit="gCO2/kWh"), "priceYuanPerKwh.unit"),
    ("carbon too high", {"carbonKgPerKwh": _series([5.1])}, "carbonKgPerKwh.values[0]"),
    ("carbon negative", {"carbonKgPerKwh": _series([-1.0])}, "carbonKgPerKwh.values[0]"),
    ("nothing given", {}, "body"),
    ("only nulls", {"priceYuanPerKwh": None, "carbonKgPerKwh": None}, "body"),
]


@pytest.mark.parametrize(("what", "body", "field"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_bad_series_is_a_422_naming_the_field_and_changes_nothing(
    sqlite_svc: Running, what: str, body: Any, field: str
) -> None:
    with sqlite_svc.client("operator") as op:
        site = _register(op)
        good = {"priceYuanPerKwh": _series([0.4, 0.5], source="kept")}
        assert op.put(f"/v1/sites/{site}/energy", json=good).status_code == 200
        # a good carbon series beside the bad part: nothing of the body is written
        if "carbonKgPerKwh" not in body and body:
            body = {**body, "carbonKgPerKwh": _series([0.3])}
        r = op.put(f"/v1/sites/{site}/energy", json=body)
        assert r.status_code == 422, (what, r.text[:300])
        assert r.headers["content-type"] == "application/problem+json"
        fields = [e["field"] for e in r.json()["errors"]]
        assert field in fields, (what, fields)
        after = op.get(f"/v1/sites/{site}/energy").json()
        assert after["priceYuanPerKwh"]["source"] == "kept"
        assert after["carbonKgPerKwh"] is None


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_value_is_a_422_naming_it(sqlite_svc: Running, literal: str) -> None:
    with sqlite_svc.client("operator") as op:
        site = _register(op)
        text = json.dumps(_series([0.5, 0.5])).replace("0.5]", f"{literal}]")
        r = op.put(
            f"/v1/sites/{site}/energy",
            content='{"carbonKgPerKwh": ' + text + "}",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422, r.text[:300]
        assert "carbonKgPerKwh.values[1]" in [e["field"] for e in r.json()["errors"]]
        assert op.get(f"/v1/sites/{site}/energy").json()["carbonKgPerKwh"] is None


@pytest.fixture
def sqlite_svc(sqlite_url: str) -> Iterator[Running]:
    with running_service(sqlite_url) as r:
        yield r


# -- onto the scheduler's hours ----------------------------------------------------------


def test_a_series_on_the_scheduler_hours_starts_at_its_start_and_repeats_its_last_day() -> None:
    epoch = 1_000_000 * HOUR
    flat = np.full(24, 0.9)
    got = on_service_hours(epoch + 2 * HOUR, list(range(48)), epoch, flat)
    assert list(got[:4]) == [0.9, 0.9, 0.0, 1.0]  # the flat figure until the series starts
    assert list(got[48:52]) == [46.0, 47.0, 24.0, 25.0]  # then its last day, in step
    assert list(got[-24:]) == [float(v) for v in range(24, 48)]  # a whole day of it at the end
    # an epoch in the middle of an hour: each scheduler hour is the overlap-weighted mean
    half = on_service_hours(epoch - HOUR / 2, [1.0, 3.0] + [5.0] * 22, epoch, flat)
    assert list(half[:3]) == [2.0, 4.0, 5.0]
    # a series that ended before the epoch: its last day, in step with the clock
    past = on_service_hours(epoch - 100 * HOUR, list(range(30)), epoch, flat)
    assert list(past[:3]) == [28.0, 29.0, 6.0]
    assert not got.flags.writeable


def test_24_values_from_a_past_local_midnight_are_a_daily_profile_in_local_time() -> None:
    profile = [float(h) for h in range(24)]  # the value is the local hour
    start = datetime(2020, 1, 1, tzinfo=timezone(timedelta(hours=8))).timestamp()
    epoch = datetime(2026, 12, 2, 1, tzinfo=UTC).timestamp()  # 09:00 in UTC+8
    got = on_service_hours(start, profile, epoch, np.full(24, 0.9))
    assert got[0] == 9.0 and got[15] == 0.0 and got[23] == 8.0
    assert len(got) == 24  # all in the repetition: the cost model repeats it as it is


def test_build_scenario_puts_the_series_on_its_site_and_leaves_the_rest_as_they_were(
    svc: Running,
) -> None:
    store = svc.service.store
    with svc.client("operator") as op:
        a, b = _register(op), _register(op)
        body = {"priceYuanPerKwh": _series([3.0] * 24 + [0.1] * 24)}
        assert op.put(f"/v1/sites/{a}/energy", json=body).status_code == 200
        # a scenario's site: the series replaces the scenario's, the other kind stays
        body = {"carbonKgPerKwh": _series([0.2] * 24)}
        assert op.put("/v1/sites/guian/energy", json=body).status_code == 200
    epoch = store.epoch()
    scn = build_scenario(
        svc.service.scenario,
        store.sites(),
        store.pools(),
        store.tenants(),
        store.site_series(),
        epoch,
    )
    # the epoch is within this hour (a new database), after the series' start
    assert scn.sites[a].price[0] == pytest.approx(3.0)
    assert scn.sites[a].price[30] == pytest.approx(0.1)
    assert list(scn.sites[a].carbon) == [0.6] * 24  # no carbon series: the flat figure
    assert list(scn.sites[b].price) == [0.9] * 24
    base = svc.service.scenario.sites["guian"]
    assert np.array_equal(scn.sites["guian"].price, base.price)
    assert np.allclose(scn.sites["guian"].carbon, 0.2)
    assert scn.sites["guian"].pools == base.pools


# -- the scheduler -----------------------------------------------------------------------


@contextmanager
def _stepped(db_url: str) -> Iterator[Running]:
    """The service with its default policy (``suanli``), the loop driven tick by tick and a
    fake backend on which nothing ends during the test."""
    with running_service(
        db_url, FakeBackend(seconds_per_hour=3600), scheduler="off", policy="suanli"
    ) as svc:
        yield svc


def _tick(svc: Running) -> None:
    loop = svc.service.loop
    loop._last_sweep = float("-inf")  # with the sweep: the rebuild check
    loop.step()


def _deferrable(site: str, name: str) -> dict[str, Any]:
    deadline = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%dT%H:00:00Z")
    return job_doc(
        name=name,
        tenant="fin-bank",
        accelerators={"count": 8, "types": ["P100"]},  # only the partner site has P100
        durationHours=0.1,  # about 2.8 h on P100
        data={"site": site, "sizeGB": 0},
        deadline=deadline,
    )


def _start(c: httpx.Client, job_id: str) -> float:
    """The job's start hour: its placement's, or, while it waits for a later hour (a planned
    job stays queued until its hour comes), the hour its waiting reason names."""
    status = c.get(f"/v1/jobs/{job_id}").json()["status"]
    if status["startHour"] is not None:
        return float(status["startHour"])
    planned = re.search(r"start at ([0-9.]+) h", status["reason"])
    assert status["state"] == "queued" and planned, status
    return float(planned.group(1))


def _placed_then_cancelled(svc: Running, c: httpx.Client, site: str, name: str) -> float:
    """A deferrable job submitted and planned in one tick: its start hour; then cancelled.
    The pool is large (400 P100) and the job short, so that what an earlier job holds hardly
    moves the policy's scarcity price: the prices decide."""
    job = c.post("/v1/jobs", json=_deferrable(site, name)).json()["id"]
    _tick(svc)
    start = _start(c, job)
    assert c.post(f"/v1/jobs/{job}/cancel").status_code == 200
    _tick(svc)
    assert c.get(f"/v1/jobs/{job}").json()["status"]["state"] == "cancelled"
    return start


def test_the_suanli_policy_moves_a_deferrable_job_to_the_hours_the_series_makes_cheap(
    db_url: str,
) -> None:
    """Dear and dirty for a day, then paid to run (a negative price, as in German and British
    day-ahead hours) and clean: with flat figures the job starts now; with the series
    attached (after the leader was built: it reaches it by the rebuild) it waits for that
    day; detached again, a job starts now."""
    with _stepped(db_url) as svc, svc.client("operator") as op:
        _tick(svc)  # the leader is built before any series exists
        site = _register(op, "P100", nodes=50)
        loop = svc.service.loop
        assert _placed_then_cancelled(svc, op, site, "flat") < loop.clock.now() + 1.0
        body = {
            "priceYuanPerKwh": _series([4.0] * 24 + [-0.05] * 24, source="test tariff"),
            "carbonKgPerKwh": _series([1.2] * 24 + [0.02] * 24, source="estimate"),
        }
        assert op.put(f"/v1/sites/{site}/energy", json=body).status_code == 200
        shifted = _placed_then_cancelled(svc, op, site, "shifted")
        # the series' cheap day begins 24 h after the top of this hour
        cheap_from = (_this_hour().timestamp() + 24 * HOUR - loop.epoch) / HOUR
        assert shifted >= cheap_from - 1e-6, (shifted, cheap_from)
        assert op.delete(f"/v1/sites/{site}/energy").status_code == 204
        assert _placed_then_cancelled(svc, op, site, "back") < loop.clock.now() + 1.0


# -- the command line --------------------------------------------------------------------


def test_the_site_energy_commands_set_show_and_clear_from_csv_and_json(
    sqlite_svc: Running, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from suanli.cli import app
    from suanli.scenario.series import data_dir, read_hourly_csv

    env = {
        "SUANLI_URL": sqlite_svc.url,
        "SUANLI_TOKEN": sqlite_svc.tokens["operator"],
        "COLUMNS": "200",  # rich's tables: no wrapping
    }
    cli = CliRunner()
    with sqlite_svc.client("operator") as op:
        site = _register(op)
        first = _this_hour()
        rows = ["datetime_utc,price_yuan_per_kwh,carbon_kg_per_kwh"] + [
            f"{(first + timedelta(hours=h)).strftime('%Y-%m-%dT%H:%M:%SZ')},"
            f"{1.0 if h < 12 else 0.25},{0.5}"
            for h in range(48)
        ]
        csv_file = tmp_path / "tariff.csv"
        csv_file.write_text("\n".join(rows) + "\n")
        # every column read needs its source: nothing is sent without one
        bad = cli.invoke(
            app, ["site-energy", "set", site, str(csv_file), "--price-source", "x"], env=env
        )
        assert bad.exit_code == 2 and "--carbon-source" in bad.output, bad.output
        assert op.get(f"/v1/sites/{site}/energy").json()["priceYuanPerKwh"] is None
        ok = cli.invoke(
            app,
            [
                *("site-energy", "set", site, str(csv_file)),
                *("--price-source", "partner tariff", "--carbon-source", "estimate"),
            ],
            env=env,
        )
        assert ok.exit_code == 0, ok.output
        assert "partner tariff" in ok.output and "estimate" in ok.output
        got = op.get(f"/v1/sites/{site}/energy").json()
        assert got["priceYuanPerKwh"]["values"] == [1.0] * 12 + [0.25] * 36
        assert datetime.fromisoformat(got["carbonKgPerKwh"]["start"]) == first
        shown = json.loads(cli.invoke(app, ["site-energy", "show", site, "--json"], env=env).output)
        assert shown == got
        # one of the package's data files, in its own units, converted by the scales
        sg = cli.invoke(
            app,
            [
                *("site-energy", "set", site, str(data_dir() / "series" / "SG.csv.gz")),
                *("--price-column", "price_usd_per_mwh", "--price-scale", "0.0072"),
                *("--price-source", "USEP 2023 (EMC) via green-dcc; 7.2 yuan/USD, an estimate"),
                *("--carbon-column", "carbon_direct_g_per_kwh", "--carbon-scale", "0.001"),
                *("--carbon-source", "Electricity Maps 2023, direct"),
            ],
            env=env,
        )
        assert sg.exit_code == 0, sg.output
        got = op.get(f"/v1/sites/{site}/energy").json()
        _, table = read_hourly_csv(data_dir() / "series" / "SG.csv.gz")
        hours = len(table["price_usd_per_mwh"])
        assert got["priceYuanPerKwh"]["hours"] == got["carbonKgPerKwh"]["hours"] == hours
        assert got["priceYuanPerKwh"]["values"][0] == pytest.approx(
            table["price_usd_per_mwh"][0] * 0.0072
        )
        assert 0.0 < max(got["carbonKgPerKwh"]["values"]) < 1.0  # kg, not g
        missing = cli.invoke(
            app,
            ["site-energy", "set", site, str(csv_file), "--price-column", "nope"],
            env=env,
        )
        assert missing.exit_code == 2 and "no column 'nope'" in missing.output
        body = tmp_path / "energy.json"
        body.write_text(json.dumps({"carbonKgPerKwh": _series([0.3] * 24)}))
        ok = cli.invoke(app, ["site-energy", "set", site, str(body)], env=env)
        assert ok.exit_code == 0, ok.output
        assert op.get(f"/v1/sites/{site}/energy").json()["priceYuanPerKwh"] is None
        refused = cli.invoke(
            app,
            ["site-energy", "set", site, str(body)],
            env={**env, "SUANLI_TOKEN": sqlite_svc.tokens["tenant"]},
        )
        assert refused.exit_code == 2 and "403" in refused.output
        assert cli.invoke(app, ["site-energy", "clear", site], env=env).exit_code == 0
        assert "flat figure" in cli.invoke(app, ["site-energy", "show", site], env=env).output

"""The API the dashboard reads (`suanli.service.dashboard`): the network now, a site's hourly
curves, tenants' usage, newest-first job lists; and the arithmetic behind them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from serving import Running, job_doc, running_service, wait_for

from suanli.scenario import load_scenario
from suanli.service.dashboard import Hold, fragmentation, hourly_load, series_at


def held(start: float, end: float, count: float = 1.0, pool: int = 0) -> Hold:
    return Hold("s", pool, "t", "A100", count, start, end)


@pytest.mark.parametrize(
    ("holds", "expected"),
    [
        pytest.param([], [[0, 0, 0]], id="no jobs, no load"),
        pytest.param([held(0, 3, 8)], [[8, 8, 8]], id="whole hours"),
        pytest.param([held(0.5, 1.5, 4)], [[2, 2, 0]], id="half of two hours"),
        pytest.param([held(1, 2, 2), held(1, 2, 3)], [[0, 5, 0]], id="two jobs add up"),
        pytest.param([held(-5, 10, 1)], [[1, 1, 1]], id="a job longer than the window"),
    ],
)
def test_hourly_load_is_the_mean_accelerators_held_in_each_hour(
    holds: list[Hold], expected: list[list[float]]
) -> None:
    assert hourly_load(holds, 0, 3, 1).tolist() == expected


def test_hourly_load_keeps_each_pool_apart() -> None:
    load = hourly_load([held(0, 1, 8, pool=1), held(0, 2, 1, pool=0)], 0, 2, 2)
    assert load.tolist() == [[1, 1], [8, 0]]


@pytest.mark.parametrize(
    ("pools", "load", "expected"),
    [
        pytest.param([(4, 8)], [0.0], 0.0, id="an idle site is not fragmented"),
        pytest.param([(4, 8)], [32.0], 0.0, id="a full site has nothing free"),
        pytest.param([(4, 8)], [8.0], 0.0, id="load that fills whole nodes"),
        pytest.param([(4, 8)], [4.0], 4 / 28, id="half a node taken strands four"),
        pytest.param([(2, 8), (1, 4)], [1.0, 0.0], 7 / 19, id="one pool's remainder"),
    ],
)
def test_fragmentation_is_the_share_of_free_accelerators_off_whole_free_nodes(
    pools: list[tuple[int, int]], load: list[float], expected: float
) -> None:
    got = fragmentation(pools, np.array(load, dtype=np.float64)[:, None])
    assert got.tolist() == pytest.approx([expected])


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        pytest.param([0, 47], [0.0, 47.0], id="inside the series"),
        pytest.param([48, 71, 72], [24.0, 47.0, 24.0], id="past the end the last day repeats"),
    ],
)
def test_series_at_repeats_the_last_day_past_the_end(
    hours: list[int], expected: list[float]
) -> None:
    assert series_at(np.arange(48, dtype=np.float64), hours) == expected


def test_the_network_shows_every_site_with_its_price_and_carbon_this_hour(svc: Running) -> None:
    with svc.client("regulator") as c:
        net = c.get("/v1/network").json()
    scn = load_scenario("china-edwc")
    assert {s["id"] for s in net["sites"]} == set(scn.sites)
    hour = max(0, math.floor(net["hour"]))
    for s in net["sites"]:
        site = scn.sites[s["id"]]
        assert s["accelerators"] == site.accelerators
        assert s["priceYuanPerKwh"] == pytest.approx(float(site.price[hour]))
        assert s["carbonKgPerKwh"] == pytest.approx(float(site.carbon[hour]))
        assert s["inUse"] == 0 and s["utilization"] == 0
    n = len(scn.sites)
    assert len(net["links"]) == n * (n - 1) // 2
    assert all(link["latencyMs"] > 0 for link in net["links"])


def test_a_running_job_shows_as_load_on_the_map_the_site_curves_and_its_tenant(
    db_url: str,
) -> None:
    with (
        running_service(db_url, fake_seconds_per_hour=3600.0) as r,
        r.client() as op,
        r.client("tenant") as tenant,
    ):
        doc = job_doc(tenant="fin-bank", durationHours=3)
        doc["spec"]["accelerators"] = {"count": 8, "types": ["Ascend910B"]}
        job_id = op.post("/v1/jobs", json=doc).json()["id"]
        wait_for(lambda: op.get(f"/v1/jobs/{job_id}").json()["status"]["state"] == "running")
        job = op.get(f"/v1/jobs/{job_id}").json()["status"]
        site = job["site"]

        net = {s["id"]: s for s in op.get("/v1/network").json()["sites"]}
        assert net[site]["inUse"] == 8
        assert net[site]["utilization"] == pytest.approx(8 / net[site]["accelerators"])

        series = op.get(f"/v1/sites/{site}/series", params={"before": 0, "after": 6}).json()
        assert len(series["hours"]) == len(series["load"]) == 6
        assert series["load"][1] == pytest.approx(8.0)  # the whole of the next hour
        assert series["load"][5] == 0.0  # after its planned end
        pool = next(p for p in series["pools"] if p["accelerator"] == job["accelerator"])
        assert pool["inUse"] == 8

        mine = tenant.get("/v1/queues").json()
        assert [t["id"] for t in mine["tenants"]] == ["fin-bank"]
        bank = mine["tenants"][0]
        assert bank["inUse"] == {job["accelerator"]: 8}
        quota = bank["quota"].get(job["accelerator"], 0)
        assert bank["borrowing"] == max(0, 8 - quota)
        assert bank["states"] == {"running": 1}
        assert len(op.get("/v1/queues").json()["tenants"]) == len(
            load_scenario("china-edwc").tenants
        )


def test_a_site_series_of_an_unknown_site_is_a_404(svc: Running) -> None:
    with svc.client() as c:
        r = c.get("/v1/sites/nowhere/series")
    assert r.status_code == 404 and "nowhere" in r.json()["detail"]


def test_me_names_the_role_and_the_tenant_of_the_token(svc: Running) -> None:
    with svc.client("tenant") as c:
        assert c.get("/v1/me").json() == {"role": "tenant", "tenant": "fin-bank"}
    with svc.client("regulator") as c:
        assert c.get("/v1/me").json() == {"role": "regulator", "tenant": None}


def test_jobs_newest_first_page_backwards_with_after(svc: Running) -> None:
    with svc.client() as c:
        ids = [
            c.post("/v1/jobs", json=job_doc(tenant="fin-bank", name=f"n{i}")).json()["id"]
            for i in range(5)
        ]
        first = c.get("/v1/jobs", params={"order": "desc", "limit": 3}).json()
        assert [j["id"] for j in first["items"]] == ids[::-1][:3]
        rest = c.get("/v1/jobs", params={"order": "desc", "limit": 3, "after": first["next"]})
        assert [j["id"] for j in rest.json()["items"]] == ids[::-1][3:]
        assert c.get("/v1/jobs", params={"order": "sideways"}).status_code == 422


def test_the_dashboard_is_served_offline_from_the_package(svc: Running) -> None:
    from suanli.web import STATIC

    with svc.client("") as c:
        assert c.get("/").headers["location"] == "/ui/"
        page = c.get("/ui/")
        assert page.status_code == 200 and "<title>Suanli dashboard</title>" in page.text
        js = c.get("/ui/vendor/plotly-basic.min.js")
        assert js.status_code == 200 and "plotly.js (basic - minified) v4" in js.text[:2000]
        assert c.get("/ui/vendor/world_110m.json").json()["type"] == "Topology"
        assert c.get("/ui/no-such-file.js").status_code == 404
    for path in STATIC.iterdir():
        # the SVG namespace is a name, not an address that is fetched
        text = path.read_text().replace('"http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text, f"{path.name} reaches out"


@pytest.mark.parametrize(
    ("state", "end_h", "updated_h", "now_h", "held_until"),
    [
        pytest.param("running", 3.0, 0.0, 1.0, 3.0, id="running holds until its planned end"),
        pytest.param("running", 3.0, 0.0, 5.0, 5.0, id="running past its plan holds until now"),
        pytest.param("admitted", 3.0, 0.0, 1.0, 3.0, id="admitted holds its plan"),
        pytest.param("succeeded", 3.0, 2.0, 5.0, 2.0, id="an ended job holds until it ended"),
        pytest.param("cancelled", 3.0, 0.5, 5.0, 0.5, id="a cancelled job until it was stopped"),
    ],
)
def test_a_job_row_holds_its_site_for_as_long_as_it_really_does(
    state: str, end_h: float, updated_h: float, now_h: float, held_until: float
) -> None:
    from suanli.service.dashboard import hold

    epoch = 1_000_000.0
    row = {
        "site": "guian", "pool": 1, "tenant": "fin-bank", "accelerator": "A800", "count": 8,
        "state": state, "start_h": 0.0, "end_h": end_h, "updated_at": epoch + 3600 * updated_h,
    }  # fmt: skip
    got = hold(row, epoch, now_h)
    assert got is not None and got.end_h == held_until and got.count == 8


def test_a_job_that_was_never_placed_holds_nothing() -> None:
    from suanli.service.dashboard import hold

    row = {"site": None, "start_h": None, "state": "queued"}
    assert hold(row, 0.0, 1.0) is None

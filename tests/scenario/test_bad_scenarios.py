"""Every kind of broken scenario file is a ScenarioError naming the file and the path in it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.errors import ScenarioError
from suanli.scenario import load_scenario, scenario_path

Doc = dict[str, Any]


def small_scenario() -> Doc:
    """A valid three-site scenario to break one way at a time."""
    tou = {"timeOfUse": {"base": 0.4, "peakHours": [8, 9], "valleyHours": [0, 1]}}
    carbon = {"modelledAroundMean": {"mean": 0.5, "profile": "solar", "amplitude": 0.1}}

    def site(i: int, juris: str) -> Doc:
        return {
            "id": f"s{i}", "name": f"Site {i}", "hub": "h", "operator": "op",
            "jurisdiction": juris, "region": "east", "lat": 30.0 + i, "lon": 110.0 + i,
            "pue": 1.2, "powerCapMw": 1.0, "price": dict(tou), "carbon": dict(carbon),
            "pools": [{"accelerator": "A100", "nodes": 2, "perNode": 8}],
        }  # fmt: skip

    return {
        "apiVersion": "suanli/v1",
        "kind": "Scenario",
        "metadata": {"name": "small"},
        "spec": {
            "start": "2023-06-05T00:00:00Z",
            "hours": 48,
            "sites": [site(0, "CN"), site(1, "CN"), site(2, "SG")],
            "tenants": [{"id": "t0", "name": "T", "sector": "finance", "jurisdiction": "CN"}],
        },
    }


def write(tmp_path: Path, doc: Doc, name: str = "small.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def test_the_small_scenario_is_valid(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, small_scenario()))
    assert s.accelerators == 48
    assert len(s.links) == 9
    assert s.link("s0", "s2").bandwidth_gbps < s.link("s0", "s1").bandwidth_gbps


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """An edit that sets a dotted path (ints index lists); value DELETE removes the key."""

    def edit(doc: Doc) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = doc
        for p in parents:
            node = node[p]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return edit


DELETE = object()


def _gangs(hub: str, **changes: Any) -> Doc:
    """A ``network.crossSiteGangs`` entry (a key given DELETE is left out)."""
    entry = {"hub": hub, "bandwidthGbps": 400, "slowdown": 1.3, "basis": "EST test", **changes}
    return {k: v for k, v in entry.items() if v is not DELETE}


def _two_edits(a: Callable[[Doc], None], b: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        a(doc)
        b(doc)

    return edit


CASES = [
    pytest.param(_set("spec.sites.1.pue", 0.8), "spec.sites[1].pue", "must be >= 1.0, got 0.8",
                 id="pue-below-one"),
    pytest.param(_set("spec.sites.0.lat", 123.0), "spec.sites[0].lat", "must be <= 90",
                 id="latitude-out-of-range"),
    pytest.param(_set("spec.sites.0.pools.0.nodes", -2), "spec.sites[0].pools[0].nodes",
                 "must be >= 1, got -2", id="negative-nodes"),
    pytest.param(_set("spec.sites.2.pools.0.accelerator", "B200"),
                 "spec.sites[2].pools[0].accelerator", "unknown accelerator type 'B200'",
                 id="unknown-accelerator"),
    pytest.param(_set("spec.sites.1.id", "s0"), "spec.sites[1].id", "duplicate site id 's0'",
                 id="duplicate-site"),
    pytest.param(_set("spec.sites.0.carbon", [0.5] * 10), "spec.sites[0].carbon",
                 "needs 48 hourly values (spec.hours), got 10", id="series-too-short"),
    pytest.param(_set("spec.sites.0.carbon", [-0.1] * 48), "spec.sites[0].carbon",
                 "must be >= 0 every hour", id="negative-carbon"),
    pytest.param(_set("spec.sites.0.price", {"timeOfUse": {"base": 0.4}, "file": "x.csv"}),
                 "spec.sites[0].price", "give exactly one of", id="two-series-sources"),
    pytest.param(_set("spec.sites.0.price",
                      {"timeOfUse": {"base": 0.4, "peakHours": [8], "valleyHours": [8]}}),
                 "spec.sites[0].price.timeOfUse", "both peak and valley", id="tou-overlap"),
    pytest.param(_set("spec.sites.0.price", {"timeOfUse": {"base": 0.4, "peakHours": [24]}}),
                 "spec.sites[0].price.timeOfUse.peakHours", "0..23", id="tou-hour-25"),
    pytest.param(_set("spec.sites.0.price", {"file": "series/SG.csv.gz", "column": "nope"}),
                 "spec.sites[0].price", "no column 'nope'", id="file-unknown-column"),
    pytest.param(_set("spec.sites.0.price", {"file": "series/none.csv", "column": "x"}),
                 "spec.sites[0].price", "not found", id="file-missing"),
    pytest.param(_set("spec.start", "2024-06-05T00:00:00Z"), "spec.sites[0].price", "",
                 id="file-does-not-cover-start"),
    pytest.param(_set("spec.sites.0.pueTarget", 1.2), "spec.sites[0].pueTarget",
                 "unknown field", id="unknown-field"),
    pytest.param(_set("spec.sites.0.pue", DELETE), "spec.sites[0].pue",
                 "required field is missing", id="missing-field"),
    pytest.param(_set("spec.hours", 0), "spec.hours", "must be >= 1, got 0", id="zero-hours"),
    pytest.param(_set("spec.start", "2023-06-05T00:00:00"), "spec.start", "timezone",
                 id="naive-start"),
    pytest.param(_set("apiVersion", "suanli/v2"), "apiVersion", "'suanli/v1'",
                 id="wrong-api-version"),
    pytest.param(_set("spec.network", {"overrides": [{"src": "s0", "dst": "s9"}]}),
                 "spec.network.overrides[0].dst", "link to unknown site 's9'",
                 id="link-to-unknown-site"),
    pytest.param(_set("spec.network", {"domestic": {"bandwidthGbps": -1, "priceYuanPerGb": 0}}),
                 "spec.network.domestic.bandwidthGbps", "must be > 0", id="negative-bandwidth"),
    pytest.param(_set("spec.costs", {"carbonPriceYuanPerTonne": -5}),
                 "spec.costs.carbonPriceYuanPerTonne", "must be >= 0", id="negative-cost"),
    pytest.param(_set("spec.tenants.0.sector", "mining"), "spec.tenants[0].sector",
                 "must be one of", id="unknown-sector"),
    pytest.param(_set("spec.tenants.0.quota", {"TPUv5": 8}), "spec.tenants[0].quota.TPUv5",
                 "unknown accelerator type", id="quota-unknown-type"),
    pytest.param(_set("spec.tenants.0.quota", {"A100": -8}), "spec.tenants[0].quota",
                 "must be >= 0", id="negative-quota"),
    pytest.param(_set("spec.tenants", [{"id": "t0", "name": "a", "sector": "finance",
                                        "jurisdiction": "CN"}] * 2),
                 "spec.tenants[1].id", "duplicate tenant id", id="duplicate-tenant"),
    pytest.param(_set("spec.network", {"crossSiteGangs": [_gangs("nowhere")]}),
                 "spec.network.crossSiteGangs[0].hub", "unknown hub 'nowhere'",
                 id="cross-site-unknown-hub"),
    pytest.param(_set("spec.network", {"crossSiteGangs": [_gangs("h", slowdown=0.8)]}),
                 "spec.network.crossSiteGangs[0].slowdown", "must be >= 1",
                 id="cross-site-speedup"),
    pytest.param(_set("spec.network", {"crossSiteGangs": [_gangs("h", bandwidthGbps=0)]}),
                 "spec.network.crossSiteGangs[0].bandwidthGbps", "must be > 0",
                 id="cross-site-no-bandwidth"),
    pytest.param(_set("spec.network", {"crossSiteGangs": [_gangs("h", basis=DELETE)]}),
                 "spec.network.crossSiteGangs[0].basis", "required field is missing",
                 id="cross-site-without-basis"),
    pytest.param(_set("spec.network", {"crossSiteGangs": [_gangs("h")]}),
                 "spec.network.crossSiteGangs[0].hub", "spans jurisdictions CN, SG",
                 id="cross-site-across-a-border"),
    pytest.param(_two_edits(_set("spec.sites.2.hub", "p"),
                            _set("spec.network", {"crossSiteGangs": [_gangs("p")]})),
                 "spec.network.crossSiteGangs[0].hub", "has one site (s2)",
                 id="cross-site-one-site-hub"),
    pytest.param(_two_edits(_set("spec.sites.2.hub", "p"),
                            _set("spec.network", {"crossSiteGangs": [_gangs("h")] * 2})),
                 "spec.network.crossSiteGangs[1].hub", "listed twice",
                 id="cross-site-hub-twice"),
]  # fmt: skip


def _series_cover_case(doc: Doc) -> None:
    doc["spec"]["sites"][0]["price"] = {"file": "series/SG.csv.gz", "column": "price_usd_per_mwh"}


@pytest.mark.parametrize(("edit", "where", "problem"), CASES)
def test_a_broken_file_names_the_file_and_the_path(
    tmp_path: Path, edit: Callable[[Doc], None], where: str, problem: str
) -> None:
    doc = small_scenario()
    edit(doc)
    if where == "spec.sites[0].price" and problem == "":
        _series_cover_case(doc)
        problem = "does not hold 48 hours"
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, doc))
    assert info.value.place.startswith(f"small.yaml: {where}")
    assert problem in info.value.problem


def test_cross_site_gangs_load_for_a_domestic_hub(tmp_path: Path) -> None:
    doc = small_scenario()
    doc["spec"]["sites"][2]["hub"] = "p"
    doc["spec"]["network"] = {"crossSiteGangs": [_gangs("h", slowdown=1.5)]}
    s = load_scenario(write(tmp_path, doc))
    (g,) = s.cross_site.values()
    assert (g.hub, g.sites, g.bandwidth_gbps, g.slowdown, g.basis) == (
        "h",
        ("s0", "s1"),
        400.0,
        1.5,
        "EST test",
    )
    assert load_scenario(write(tmp_path, small_scenario())).cross_site == {}


def test_the_place_carries_the_line_number(tmp_path: Path) -> None:
    doc = small_scenario()
    doc["spec"]["sites"][1]["pue"] = 0.8
    path = write(tmp_path, doc)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "pue: 0.8" in t)
    assert info.value.place == f"small.yaml: spec.sites[1].pue (line {line})"
    assert str(info.value).startswith(f"small.yaml: spec.sites[1].pue (line {line}): must be")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("apiVersion: suanli/v1\nkind: [Scenario\n", "line 3", id="unclosed-list"),
        pytest.param("a: 1\n  b: 2\n", "line 2", id="bad-indent"),
        pytest.param("- just\n- a list\n", "mapping at the top level", id="not-a-mapping"),
    ],
)
def test_bad_yaml_syntax_names_the_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "broken.yaml" in info.value.place
    assert expected in str(info.value)


def test_an_unknown_name_lists_the_built_in_scenarios() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_path("atlantis")
    assert "china-edwc" in (info.value.hint or "")


def test_inline_lists_and_file_series_are_accepted(tmp_path: Path) -> None:
    doc = small_scenario()
    doc["spec"]["sites"][0]["carbon"] = {"values": [0.3] * 50, "scale": 2.0, "basis": "EST test"}
    doc["spec"]["sites"][2]["price"] = {
        "file": "series/SG.csv.gz", "column": "price_usd_per_mwh", "scale": 0.00708,
    }  # fmt: skip
    s = load_scenario(write(tmp_path, doc))
    assert s.sites["s0"].carbon.tolist() == [0.6] * 48
    assert "carbon: EST test" in s.sites["s0"].notes
    assert s.sites["s2"].price.shape == (48,)


def test_a_series_file_beside_the_scenario_is_found(tmp_path: Path) -> None:
    (tmp_path / "mine.csv").write_text(
        "datetime_utc,c\n" + "".join(f"2023-06-05T{h:02d}:00:00Z,{h}\n" for h in range(24)) * 1,
        encoding="utf-8",
    )
    doc = small_scenario()
    doc["spec"]["hours"] = 24
    doc["spec"]["sites"][0]["carbon"] = {"file": "mine.csv", "column": "c", "scale": 0.01}
    s = load_scenario(write(tmp_path, doc))
    assert s.sites["s0"].carbon[5] == pytest.approx(0.05)


@settings(max_examples=40, deadline=None)
@given(pue=st.floats(min_value=-10, max_value=0.999, allow_nan=False))
def test_any_pue_below_one_is_refused(pue: float) -> None:
    import tempfile

    doc = small_scenario()
    doc["spec"]["sites"][2]["pue"] = pue
    with tempfile.TemporaryDirectory() as d, pytest.raises(ScenarioError) as info:
        load_scenario(write(Path(d), doc))
    assert info.value.place.startswith("small.yaml: spec.sites[2].pue")


@settings(max_examples=25, deadline=None)
@given(
    base=st.floats(min_value=0.01, max_value=5),
    offset=st.integers(min_value=-12, max_value=14),
    peak=st.sets(st.integers(0, 11), max_size=6),
    valley=st.sets(st.integers(12, 23), max_size=6),
)
def test_time_of_use_takes_only_the_three_levels(
    base: float, offset: int, peak: set[int], valley: set[int]
) -> None:
    from datetime import UTC, datetime

    from suanli.scenario.schema import TimeOfUse
    from suanli.scenario.series import time_of_use

    tou = TimeOfUse(base=base, peak_hours=sorted(peak), valley_hours=sorted(valley),
                    utc_offset=offset)  # fmt: skip
    values = time_of_use(tou, datetime(2023, 6, 5, tzinfo=UTC), 48)
    assert set(values.round(9)) <= {round(base * r, 9) for r in (1.6, 1.0, 0.47)}
    assert (values[:24] == values[24:]).all()

"""The built-in china-edwc scenario loads with the network, series and labels it promises."""

from __future__ import annotations

import time

import numpy as np
import pytest

from suanli.model import Scenario
from suanli.scenario import BUILTIN_SCENARIOS, default_catalog, load_scenario

CN_CLUSTERS = {
    "zhangjiakou", "yrd-demo", "wuhu", "shaoguan", "tianfu", "chongqing",
    "horinger", "guian", "qingyang", "zhongwei",
}  # fmt: skip


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario("china-edwc")


def test_the_default_scenario_is_built_in() -> None:
    assert "china-edwc" in BUILTIN_SCENARIOS


def test_the_default_scenario_loads_in_well_under_a_second() -> None:
    load_scenario("china-edwc")  # warm the series cache once
    began = time.perf_counter()
    load_scenario("china-edwc")
    assert time.perf_counter() - began < 0.5


def test_it_has_the_ten_clusters_and_at_least_four_partner_sites(scenario: Scenario) -> None:
    cn = {s.id for s in scenario.sites.values() if s.jurisdiction == "CN"}
    abroad = [s for s in scenario.sites.values() if s.jurisdiction != "CN"]
    assert cn == CN_CLUSTERS
    assert len(abroad) >= 4


def test_it_has_at_least_20000_accelerators(scenario: Scenario) -> None:
    assert scenario.accelerators >= 20_000


def test_every_series_covers_the_horizon(scenario: Scenario) -> None:
    assert scenario.hours == 24 * 28
    for site in scenario.sites.values():
        assert site.price.shape == (scenario.hours,), site.id
        assert site.carbon.shape == (scenario.hours,), site.id
        assert (site.carbon >= 0).all(), site.id
        assert not site.price.flags.writeable


def test_modelled_carbon_keeps_the_sourced_annual_mean(scenario: Scenario) -> None:
    assert scenario.sites["horinger"].carbon.mean() == pytest.approx(0.6849)
    assert scenario.sites["qingyang"].carbon.std() > 0


def test_partner_series_are_the_real_2023_hours(scenario: Scenario) -> None:
    sg = scenario.sites["sg"]
    # 2023-06-05T00:00Z in series/SG.csv.gz: 96 hours after its first row
    assert sg.carbon[0] == pytest.approx(float(_first_hours("SG", 97)[-1][1]) / 1000)
    assert sg.price[0] == pytest.approx(float(_first_hours("SG", 97)[-1][2]) * 7.08 / 1000)


def _first_hours(zone: str, n: int) -> list[list[str]]:
    import gzip

    from suanli.scenario.series import data_dir

    text = gzip.decompress((data_dir() / "series" / f"{zone}.csv.gz").read_bytes()).decode()
    return [line.split(",") for line in text.splitlines()[1 : n + 1]]


@pytest.mark.parametrize(
    ("site", "labels"),
    [
        pytest.param("zhangjiakou", ["SRC MEE2022 provincial", "EST", "modelled"], id="hebei"),
        pytest.param("yrd-demo", ["PROXY MEE2022 East-China regional", "SRC NDRC"], id="yrd"),
        pytest.param("horinger", ["SRC China Daily 2015"], id="hohhot-price"),
        pytest.param("sg", ["SRC Electricity Maps", "7.08 CNY/USD"], id="partner"),
    ],
)
def test_site_notes_keep_the_source_labels(
    scenario: Scenario, site: str, labels: list[str]
) -> None:
    for label in labels:
        assert label in scenario.sites[site].notes


def test_there_is_a_link_for_every_ordered_pair(scenario: Scenario) -> None:
    n = len(scenario.sites)
    assert len(scenario.links) == n * n
    for a in scenario.sites:
        assert scenario.link(a, a).price_yuan_per_gb == 0.0
    beijing_ish = scenario.link("zhangjiakou", "guian")
    assert 5 < beijing_ish.latency_ms < 20
    assert scenario.link("sg", "horinger").price_yuan_per_gb > beijing_ish.price_yuan_per_gb


def test_overrides_apply_both_ways(scenario: Scenario) -> None:
    assert scenario.link("wuhu", "yrd-demo").bandwidth_gbps == 400


def test_costs_default_to_the_epa_social_cost_of_carbon(scenario: Scenario) -> None:
    assert scenario.costs.carbon_price_yuan_per_t == 1345
    assert scenario.costs.deadline_penalty_yuan_per_gpu_h == 20
    assert scenario.costs.latency_yuan_per_gpu_h_ms == 0.02


def test_tenants_span_the_sectors_and_jurisdictions(scenario: Scenario) -> None:
    assert len(scenario.tenants) >= 10
    assert {t.sector.value for t in scenario.tenants.values()} == {
        "finance", "healthcare", "manufacturing", "public-services",
        "research-education", "international-partner",
    }  # fmt: skip
    assert {t.jurisdiction for t in scenario.tenants.values()} > {"CN"}


def test_the_catalog_has_the_required_types_with_provenance() -> None:
    catalog = default_catalog()
    assert catalog.reference == "A100"
    required = {"H100", "H800", "H20", "A100", "A800", "L40S", "V100", "T4",
                "Ascend910B", "HygonDCU", "CambriconMLU"}  # fmt: skip
    assert required <= set(catalog)
    for t in catalog.values():
        for fig in (t.memory_gb, t.power_kw, t.train, t.infer):
            assert fig.basis in ("sourced", "estimated") and fig.source, t.name
    assert catalog["A100"].train.value == 1.0
    assert catalog["Ascend910B"].domestic and not catalog["H20"].domestic


def test_every_pool_type_is_in_the_catalog(scenario: Scenario) -> None:
    types = {p.accelerator for s in scenario.sites.values() for p in s.pools}
    assert types <= set(scenario.catalog)
    assert np.isfinite([s.price.sum() for s in scenario.sites.values()]).all()


def test_gangs_may_span_the_two_hubs_of_two_sites_with_an_estimated_slowdown(
    scenario: Scenario,
) -> None:
    gangs = scenario.cross_site
    assert {h: g.sites for h, g in gangs.items()} == {
        "Yangtze River Delta": ("yrd-demo", "wuhu"),
        "Chengdu-Chongqing": ("tianfu", "chongqing"),
    }
    for g in gangs.values():
        assert g.slowdown >= 1.0 and g.basis.startswith("EST")
        a, b = g.sites
        assert g.bandwidth_gbps == scenario.link(a, b).bandwidth_gbps

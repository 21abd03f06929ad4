"""The scenario file's `queueing:` section: read into the scenario, each mistake an exit 2."""
# the shipped pai-2020 file's own section is read by test_pai_scenario.py

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.scenario import load_scenario, scenario_path


def scenario_doc(queueing: Any) -> dict[str, Any]:
    """The built-in pai-2020 scenario (flavors P100, T4, PAI-MISC, V100) with ``queueing``."""
    doc: dict[str, Any] = yaml.safe_load(scenario_path("pai-2020").read_text(encoding="utf-8"))
    doc["spec"]["queueing"] = queueing
    return doc


def good_queueing() -> dict[str, Any]:
    return {
        "cohorts": [{"name": "all"}],
        "queues": [
            {"name": "qa", "tenants": ["fin-bank"], "cohort": "all", "weight": 2,
             "quotas": {"V100": {"nominal": 20, "borrowingLimit": 4}, "T4": 16}},
            {"name": "qb", "tenants": ["mfg-factory"], "cohort": "all",
             "quotas": {"V100": {"nominal": 12, "lendingLimit": 6}, "T4": 16}},
        ],
    }  # fmt: skip


def with_change(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    q = good_queueing()
    node: Any = q
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return q


def test_the_queueing_section_becomes_the_scenarios_queues_with_camel_case_limits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario_doc(good_queueing())), encoding="utf-8")
    config = load_scenario(path).queueing
    assert config is not None
    qa, qb = config.queues["qa"], config.queues["qb"]
    assert (qa.weight, qa.quotas["V100"].nominal, qa.quotas["V100"].borrowing_limit) == (2, 20, 4)
    assert (qb.quotas["V100"].lending_limit, qb.quotas["T4"].nominal) == (6, 16)
    assert qa.cohort == "all"


def test_a_quota_per_hub_is_read_with_the_hub_in_the_flavor_name(tmp_path: Path) -> None:
    quotas = {"V100@Yangtze River Delta": 8}
    queueing = {
        "flavorScope": "hub",
        "queues": [{"name": "qa", "tenants": ["fin-bank"], "quotas": quotas}],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario_doc(queueing)), encoding="utf-8")
    config = load_scenario(path).queueing
    assert config is not None
    site = next(iter(load_scenario("pai-2020").sites))
    assert config.flavor("V100", site) == "V100@Yangtze River Delta"
    assert config.queues["qa"].quotas["V100@Yangtze River Delta"].nominal == 8


@pytest.mark.parametrize(
    ("queueing", "place", "problem"),
    [
        pytest.param(
            with_change(("cohorts",), [{"name": "x", "parent": "y"}, {"name": "y", "parent": "x"}]),
            "s.yaml: spec.queueing.cohorts",
            "cohort cycle: x -> y -> x",
            id="cohort-cycle",
        ),
        pytest.param(
            with_change(("queues", 0, "quotas", "A100"), 8),
            "s.yaml: spec.queueing.queues[0].quotas.A100",
            "quota on unknown flavor 'A100'",
            id="quota-on-a-flavor-no-site-has",
        ),
        pytest.param(
            with_change(("queues", 1, "quotas", "V100", "lendingLimit"), -1),
            "s.yaml: spec.queueing.queues[1].quotas.V100.lendingLimit",
            "negative limit -1",
            id="negative-lending-limit",
        ),
        pytest.param(
            with_change(("queues", 0, "quotas", "T4"), -3),
            "s.yaml: spec.queueing.queues[0].quotas.T4.nominal",
            "negative limit -3",
            id="negative-nominal-quota",
        ),
        pytest.param(
            with_change(("queues", 1, "tenants"), ["fin-c"]),
            "s.yaml: spec.queueing.queues[1].tenants",
            "unknown tenant 'fin-c'",
            id="unknown-tenant",
        ),
    ],
)
def test_a_bad_queueing_section_exits_2_naming_the_place_and_writes_no_report(
    tmp_path: Path, queueing: dict[str, Any], place: str, problem: str
) -> None:
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario_doc(queueing)), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "suanli", "simulate", "--scenario", "s.yaml", "--days", "0.05",
         "--policy", "kueue", "--no-bound", "--report", "r.html"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    message = " ".join(done.stderr.split())
    assert f"{place}: {problem}" in message
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "r.html").exists()

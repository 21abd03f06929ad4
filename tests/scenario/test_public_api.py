"""The scenario and workload packages export exactly their curated names."""

from __future__ import annotations

import pytest

import suanli.scenario
import suanli.workload


@pytest.mark.parametrize(
    ("module", "names"),
    [
        pytest.param(
            suanli.scenario,
            {"BUILTIN_SCENARIOS", "default_catalog", "load_catalog", "load_scenario",
             "scenario_path"},
            id="scenario",
        ),
        pytest.param(
            suanli.workload,
            {"COLUMNS", "generate_workload", "load_workload", "save_workload"},
            id="workload",
        ),
    ],
)  # fmt: skip
def test_all_lists_the_public_names(module: object, names: set[str]) -> None:
    assert set(module.__all__) == names  # type: ignore[attr-defined]
    for name in names:
        assert hasattr(module, name)

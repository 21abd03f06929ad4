"""Scenarios: the YAML boundary that produces `suanli.model.Scenario`.

    >>> from suanli.scenario import load_scenario
    >>> scenario = load_scenario("china-edwc")   # a built-in name, or a path to a YAML file

The file schema is in `suanli.scenario.schema` and docs/scenario.md; the accelerator catalog
in ``suanli/data/accelerators.yaml``. Every problem with a file is a `suanli.errors.ScenarioError`
naming the file and the path inside it.
"""

from suanli.scenario.catalog import default_catalog, load_catalog
from suanli.scenario.load import BUILTIN_SCENARIOS, load_scenario, scenario_path

__all__ = [
    "BUILTIN_SCENARIOS",
    "default_catalog",
    "load_catalog",
    "load_scenario",
    "scenario_path",
]

"""Policy files: the default one loads; bad ones fail naming file, path and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from gov_builders import world

from suanli.governance import DEFAULT_POLICY, GovernanceEngine, PolicyError, load_policy
from suanli.scenario import load_scenario

HEAD = """apiVersion: suanli/v1
kind: PolicySet
metadata: {name: bad, version: 1}
spec:
  rules:
"""
XB = (
    "kind: crossBorderPersonalInfo, from: [CN], exemptBelowPeople: 100000, "
    "assessmentFromPeople: 1000000, assessmentFromSensitivePeople: 10000"
)


def test_the_default_policy_compiles_against_the_default_scenario() -> None:
    policy = load_policy(DEFAULT_POLICY)
    assert (policy.metadata.name, policy.metadata.version) == ("default", 1)
    kinds = {r.kind for r in policy.spec.rules}
    assert kinds == {
        "residency", "crossBorderPersonalInfo", "modelFiling", "sectorLocality",
        "acceleratorAllowList", "powerCap", "greenPower",
    }  # fmt: skip
    engine = GovernanceEngine(policy, load_scenario("china-edwc"))
    assert engine.name == "default v1"


BAD = [
    pytest.param(
        HEAD + "    - {id: a, kind: residence, classes: [core]}\n",
        "bad.yaml: spec.rules[0].kind (line 6)",
        "unknown rule kind 'residence'",
        id="unknown rule kind",
    ),
    pytest.param(
        HEAD + "    - {id: a, classes: [core]}\n",
        "bad.yaml: spec.rules[0] (line 6)",
        "rule has no kind",
        id="rule without a kind",
    ),
    pytest.param(
        HEAD + "    - {id: a, kind: residency, classes: [core], colour: red}\n",
        "bad.yaml: spec.rules[0].colour (line 6)",
        "unknown field",
        id="unknown field",
    ),
    pytest.param(
        HEAD
        + "    - {id: a, "
        + XB.replace("exemptBelowPeople: 100000", "exemptBelowPeople: 0")
        + "}\n",
        "bad.yaml: spec.rules[0].exemptBelowPeople (line 6)",
        "must be > 0, got 0",
        id="threshold not positive",
    ),
    pytest.param(
        HEAD + "    - {id: a, " + XB.replace("1000000", "100000") + "}\n",
        "bad.yaml: spec.rules[0].exemptBelowPeople (line 6)",
        "must be below assessmentFromPeople (100000), got 100000",
        id="thresholds out of order",
    ),
    pytest.param(
        HEAD + "    - {id: a, kind: greenPower, minShare: {north: 1.5}}\n",
        "bad.yaml: spec.rules[0].minShare.north (line 6)",
        "must be <= 1.0, got 1.5",
        id="share above one",
    ),
    pytest.param(
        HEAD + "    - {id: a, kind: residency, classes: [core]}\n"
        "    - {id: a, kind: residency, classes: [important]}\n",
        "bad.yaml: spec.rules[1].id (line 7)",
        "duplicate rule id 'a'",
        id="duplicate rule id",
    ),
    pytest.param(
        HEAD + "    - {id: a, " + XB + "}\n    - {id: b, " + XB.replace("10000", "5000") + "}\n",
        "bad.yaml: spec.rules[1] (line 7)",
        "contradicts rule 'a': different thresholds for ['CN']",
        id="contradictory thresholds",
    ),
    pytest.param(
        HEAD + "    - {id: a, kind: acceleratorAllowList, tenants: [gov], allow: [T4]}\n"
        "    - {id: b, kind: acceleratorAllowList, sectors: [public-services], allow: [A100]}\n",
        "bad.yaml: spec.rules[1].allow (line 7)",
        "contradicts rule 'a': the same jobs may use no type allowed by both",
        id="contradictory allow-lists",
    ),
    pytest.param(
        HEAD + "    - {id: a, kind: powerCap, capsMw: {bj: 1}}\n"
        "    - {id: b, kind: powerCap, capsMw: {bj: 2}}\n",
        "bad.yaml: spec.rules[1].capsMw.bj (line 7)",
        "contradicts rule 'a': cap 2 MW here, 1 MW there",
        id="contradictory power caps",
    ),
    pytest.param(
        HEAD.replace("version: 1", "version: 0") + "    - {id: a, kind: residency, classes: [x]}\n",
        "bad.yaml: metadata.version (line 3)",
        "must be >= 1, got 0",
        id="bad version",
    ),
    pytest.param(
        HEAD.replace("PolicySet", "Scenario"),
        "bad.yaml: kind (line 2)",
        "must be 'PolicySet', got 'Scenario'",
        id="wrong document kind",
    ),
    pytest.param(
        HEAD + "    - {id: a, kind: residency, classes: [core]\n",
        "bad.yaml (line 7, column 1)",
        "YAML syntax error",
        id="YAML syntax error",
    ),
]


@pytest.mark.parametrize(("text", "place", "problem"), BAD)
def test_a_bad_policy_file_names_the_place(
    tmp_path: Path, text: str, place: str, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.place == place
    assert info.value.problem.startswith(problem)


@pytest.mark.parametrize(
    ("rule", "place", "problem"),
    [
        pytest.param(
            "{id: a, kind: powerCap, capsMw: {nowhere: 1}}",
            "bad.yaml: spec.rules[0].capsMw.nowhere",
            "unknown site 'nowhere'",
            id="unknown site",
        ),
        pytest.param(
            "{id: a, kind: greenPower, minShare: {atlantis: 0.2}}",
            "bad.yaml: spec.rules[0].minShare.atlantis",
            "unknown hub 'atlantis'",
            id="unknown hub",
        ),
        pytest.param(
            "{id: a, kind: acceleratorAllowList, allow: [B200]}",
            "bad.yaml: spec.rules[0].allow[0]",
            "unknown accelerator type 'B200'",
            id="unknown accelerator type",
        ),
        pytest.param(
            "{id: a, kind: acceleratorAllowList, tenants: [nobody], allow: [T4]}",
            "bad.yaml: spec.rules[0].tenants[0]",
            "unknown tenant 'nobody'",
            id="unknown tenant",
        ),
    ],
)
def test_names_the_scenario_lacks_fail_when_compiling(
    tmp_path: Path, rule: str, place: str, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + f"    - {rule}\n")
    with pytest.raises(PolicyError) as info:
        GovernanceEngine.from_file(path, world())
    assert (info.value.place, info.value.problem) == (place, problem)

"""``suanli policy``: validate a file, dry-run a policy change."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from suanli.cli import app
from suanli.governance import DEFAULT_POLICY

runner = CliRunner()


def test_validate_lists_the_rules_of_the_default_policy() -> None:
    result = runner.invoke(app, ["policy", "validate", str(DEFAULT_POLICY)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: default v1, 7 rule(s)")


def test_a_bad_policy_is_reported_by_place(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: suanli/v1\nkind: PolicySet\nmetadata: {name: b, version: 1}\n"
        "spec:\n  rules:\n    - {id: a, kind: nope}\n"
    )
    result = runner.invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml: spec.rules[0].kind (line 6): unknown rule kind 'nope'" in result.output


def test_check_reports_what_the_default_policy_changes() -> None:
    result = runner.invoke(
        app, ["policy", "check", str(DEFAULT_POLICY), "--days", "0.05", "--json"]
    )
    assert result.exit_code == 0, result.output
    diff = json.loads(result.output)
    assert diff["jobs"] > 100
    assert set(diff["counts"]) == {"denied", "needs-approval", "moved", "restricted", "widened"}
    assert sum(diff["counts"].values()) == len(diff["changes"])
    for change in diff["changes"]:
        for why in change["lost"].values():
            assert why.split(":")[0] in diff["byRule"]


def test_a_policy_compared_with_itself_changes_nothing() -> None:
    args = ["policy", "check", str(DEFAULT_POLICY), "--against", str(DEFAULT_POLICY)]
    result = runner.invoke(app, [*args, "--days", "0.05", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["changes"] == []

"""The digital twin governed by the default policy set: zero violations, checked independently."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from suanli.core.scheduler import Placement
from suanli.governance.violations import policy_violations
from suanli.model import Classification
from suanli.sim.run import SimulationResult
from suanli.simulation import simulate


@pytest.fixture(scope="module")
def governed() -> SimulationResult:
    return simulate(days=0.5, bound=False)


def test_no_policy_run_breaks_a_rule_of_the_default_policy_set(governed: SimulationResult) -> None:
    assert governed.governance is not None
    for run in governed.runs.values():
        assert run.metrics.policy_violations == 0, run.metrics.policy_violations_by_rule
        # and the check is independent: a fresh engine over the trace says the same
        assert policy_violations(
            run.trace.placements, governed.governance.policy, governed.scenario,
            None if run.engine is None else run.engine.approvals,
        ) == {}  # fmt: skip
        assert run.metrics.residency_violations == 0


def test_the_default_workload_exercises_the_rules_without_denying_much(
    governed: SimulationResult,
) -> None:
    for run in governed.runs.values():
        m = run.metrics
        assert m.jobs_completed + m.jobs_rejected == len(governed.jobs)
        assert m.approvals_held > 0
        assert m.jobs_rejected < 0.05 * len(governed.jobs)
        rules = {r.split(":")[0] for x in run.trace.rejections for r in x.reasons.values()}
        assert {"genai-model-filing", "gov-domestic-accelerators"} <= rules


def test_every_rejection_gives_every_sites_reason(governed: SimulationResult) -> None:
    sites = set(governed.scenario.sites)
    for run in governed.runs.values():
        for r in run.trace.rejections:
            assert set(r.reasons) == sites, r.job.id


def _decisions(result: SimulationResult, name: str) -> str:
    """A digest of every decision of one run: where and when each job started (with the sites
    it could not use and why), and each rejection with its reasons."""
    h = hashlib.sha256()
    run = result.runs[name]
    for p in run.trace.placements:
        excluded = sorted(p.explanation.excluded.items())
        h.update(f"{p.job.id}|{p.option.site}|{p.option.pool}|{p.option.accelerator}|"
                 f"{p.start_h:.9f}|{excluded}\n".encode())  # fmt: skip
    for r in run.trace.rejections:
        h.update(f"R{r.job.id}|{r.time_h:.9f}|{sorted(r.reasons.items())}\n".encode())
    return h.hexdigest()[:16]


# Recorded before the governance speed-ups of issue 5 (seed 7, half a day, 4,406 jobs). A
# change meant to alter decisions (a policy, the allocator, the workload) updates these on
# purpose; an optimisation must leave them as they are.
PINNED = [
    pytest.param("nearest", 104617.81, 118, 12, "ffafec969080f89a", id="nearest"),
    pytest.param("cheapest", 483912.89, 119, 12, "e00509ed043c8caa", id="cheapest"),
    pytest.param("greenest", 482523.2, 120, 11, "802136e0890e69db", id="greenest"),
    pytest.param("suanli", 74997.6, 118, 12, "edd3a9e8e9c02fbf", id="suanli"),
]


@pytest.mark.parametrize(("name", "objective", "rejected", "held", "digest"), PINNED)
def test_the_governed_runs_decisions_stay_as_pinned(
    governed: SimulationResult, name: str, objective: float, rejected: int, held: int, digest: str
) -> None:
    m = governed.runs[name].metrics
    assert len(governed.jobs) == 4406
    assert (round(m.objective_yuan, 2), m.jobs_rejected, m.approvals_held) == (
        objective,
        rejected,
        held,
    )
    assert m.policy_violations == 0 and m.approvals_denied == 0
    assert _decisions(governed, name) == digest


def _forge(p: Placement, result: SimulationResult, site: str, accelerator: str) -> Placement:
    idx = result.scenario.site_ids.index(site)
    return replace(p, option=replace(p.option, site=site, site_idx=idx, accelerator=accelerator))


def test_a_forged_placement_is_counted_as_a_violation(governed: SimulationResult) -> None:
    g = governed.governance
    assert g is not None
    run = governed.runs["suanli"]
    placements = list(run.trace.placements)
    core = next(i for i, p in enumerate(placements)
                if p.job.data.classification is Classification.CORE)  # fmt: skip
    placements[core] = _forge(placements[core], governed, "sg", placements[core].option.accelerator)
    gov = next(i for i, p in enumerate(placements)
               if p.job.tenant == "gov-city" and "A100" in p.job.types
               and governed.scenario.sites[p.option.site].jurisdiction == "CN"
               and p.job.data.classification is Classification.PUBLIC)  # fmt: skip
    placements[gov] = _forge(placements[gov], governed, placements[gov].option.site, "A100")
    found = policy_violations(placements, g.policy, governed.scenario, run.engine and
                              run.engine.approvals)  # fmt: skip
    assert found == {"gov-domestic-accelerators": 1, "residency-core-important": 1}


def suanli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "suanli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


SHORT = ("simulate", "--days", "0.1", "--no-bound", "--no-report", "--json")


def test_a_simulated_ledger_verifies_explains_and_shows_tampering(tmp_path: Path) -> None:
    done = suanli(*SHORT, "--policy", "suanli", "--ledger", "run.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["policy_set"] == "default.yaml"
    assert out["policies"]["suanli"]["policy_violations"] == 0
    lines = (tmp_path / "run.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert first["kind"] == "policy-change" and first["data"]["policy"] == "default"
    placement = next(json.loads(x) for x in lines if '"kind":"placement"' in x)
    assert suanli("audit", "verify", "run.jsonl", cwd=tmp_path).returncode == 0
    story = suanli("audit", "explain", placement["data"]["job"], "--ledger", "run.jsonl",
                   cwd=tmp_path)  # fmt: skip
    assert story.returncode == 0 and "placement" in story.stdout and "excluded" in story.stdout
    k = lines.index(next(x for x in lines if '"kind":"placement"' in x))
    site = placement["data"]["site"]
    lines[k] = lines[k].replace(
        f'"site":"{site}"', '"site":"sg"' if site != "sg" else '"site":"gb"'
    )
    (tmp_path / "run.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tampered = suanli("audit", "verify", "run.jsonl", cwd=tmp_path)
    assert tampered.returncode == 1, tampered.stdout


def test_several_policies_write_one_ledger_each(tmp_path: Path) -> None:
    done = suanli(*SHORT, "--policy", "nearest", "--policy", "greenest", "--ledger", "a.jsonl",
                  cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in ("nearest", "greenest"):
        assert (tmp_path / f"a.{name}.jsonl").is_file()
        assert (tmp_path / f"a.{name}.heads.json").is_file()
        assert suanli("audit", "verify", f"a.{name}.jsonl", cwd=tmp_path).returncode == 0


def test_without_a_policy_set_there_are_no_policy_violations_to_count(tmp_path: Path) -> None:
    done = suanli(*SHORT, "--policy", "nearest", "--policy-set", "none", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["policy_set"] is None and out["policies"]["nearest"]["policy_violations"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--policy-set", "bad.yaml"), "bad.yaml: spec.rules[0].kind (line 6)",
                     id="bad-policy-file"),
        pytest.param(("--policy-set", "missing.yaml"), "missing.yaml", id="missing-policy-file"),
        pytest.param(("--approval-delay-h", "-1"), "--approval-delay-h", id="negative-delay"),
    ],
)  # fmt: skip
def test_bad_governance_options_exit_2_naming_the_problem(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: suanli/v1\nkind: PolicySet\nmetadata: {name: bad, version: 1}\nspec:\n"
        "  rules:\n    - {id: a, kind: residence}\n",
        encoding="utf-8",
    )
    done = suanli(*SHORT, "--policy", "nearest", *args, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert message in done.stderr.replace("\n", "")

"""`simulate(..., workers=N)`: the policy runs and the bound in worker processes give the same
result as one process; a worker's failure is a clear error."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import suanli.sim.run as sim_run
from suanli.cli import app
from suanli.errors import InputError, WorkerError
from suanli.report.html import render
from suanli.report.summary import summary_dict
from suanli.sim.run import SimulationResult
from suanli.simulation import simulate, write_ledgers

DAYS = 0.05


@pytest.fixture(scope="module")
def one() -> SimulationResult:
    return simulate(days=DAYS, workers=1)


def test_two_workers_give_the_same_runs_bound_and_report_as_one(
    one: SimulationResult, tmp_path: Path
) -> None:
    calls: list[tuple[str, int, int]] = []
    two = simulate(days=DAYS, workers=2, progress=lambda *a: calls.append(a))
    assert list(two.runs) == list(one.runs) == ["nearest", "cheapest", "greenest", "suanli"]
    assert two.bound is not None and one.bound is not None
    assert two.bound.value == one.bound.value and two.bound.history == one.bound.history
    by_id = {j.id: j for j in two.jobs}
    for name, run in two.runs.items():
        ref = one.runs[name]
        assert run.trace.placements == ref.trace.placements
        assert run.trace.rejections == ref.trace.rejections
        assert run.trace.fragmentation == ref.trace.fragmentation
        assert run.trace.approvals == ref.trace.approvals
        assert run.metrics == ref.metrics
        assert run.queue == ref.queue
        for field in ("busy", "power_kw", "carbon_t_by_site", "fragmentation_by_site"):
            assert np.array_equal(getattr(run.series, field), getattr(ref.series, field))
        assert run.engine is not None and ref.engine is not None
        assert run.engine.approvals.requests() == ref.engine.approvals.requests()
        # the results refer to the parent's own jobs, as an in-process run's do
        assert all(p.job is by_id[p.job.id] for p in run.trace.placements)
        run.wall_s = ref.wall_s = 1.0  # the only timing in the output
    assert summary_dict(two) == summary_dict(one)
    # the signed ledgers, byte for byte
    ledgers = write_ledgers(two, tmp_path / "two.jsonl"), write_ledgers(one, tmp_path / "one.jsonl")
    for name in two.runs:
        assert ledgers[0][name].read_bytes() == ledgers[1][name].read_bytes()
    # the report too, but for the random ids plotly gives its figures' elements
    assert _no_ids(render(two)) == _no_ids(render(one))
    # progress came back from the workers: each run's rows, in the order of one process
    tasks = list(dict.fromkeys(task for task, _, _ in calls))
    assert tasks == [
        "feasibility", "policy nearest", "policy cheapest", "policy greenest", "policy suanli",
        "lower bound",
    ]  # fmt: skip
    n = len(two.jobs)
    for name in two.runs:
        done = [d for task, d, _ in calls if task == f"policy {name}"]
        assert done[-1] == n and any(0 < d < n for d in done)
    assert calls[-1] == ("lower bound", 1, 1)


def _no_ids(html: str) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "id", html)


def _failing(name: str, how: str) -> Any:
    """`_run_policy`, failing for ``name`` (the first policy: a worker's, the parent taking
    the second)."""
    real = sim_run._run_policy

    def run_policy(policy: str, *args: Any, **kwargs: Any) -> Any:
        if policy == name:
            if how == "raise":
                raise RuntimeError("boom")
            if how == "input":
                raise InputError("workload.csv row 3", "bad tenant")
            os._exit(3)  # the worker dies
        return real(policy, *args, **kwargs)

    return run_policy


def test_an_error_in_a_worker_names_the_policy_and_carries_its_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sim_run, "_run_policy", _failing("nearest", "raise"))
    with pytest.raises(WorkerError) as info:
        simulate(days=DAYS, workers=2)
    assert str(info.value) == "policy nearest: failed in a worker process: RuntimeError: boom"
    assert "Traceback" in info.value.detail and "run_policy" in info.value.detail


def test_bad_input_found_in_a_worker_stays_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_run, "_run_policy", _failing("nearest", "input"))
    with pytest.raises(InputError, match=r"workload\.csv row 3: bad tenant"):
        simulate(days=DAYS, workers=2)


def test_a_worker_that_dies_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_run, "_run_policy", _failing("nearest", "die"))
    ended = r"policy nearest: a worker process ended without a result \(exit code 3\)"
    with pytest.raises(WorkerError, match=ended):
        simulate(days=DAYS, workers=2)


def test_the_cli_reports_a_failed_worker_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_run, "_run_policy", _failing("nearest", "raise"))
    result = CliRunner().invoke(
        app, ["simulate", "--days", str(DAYS), "--workers", "2", "--no-report", "--json"]
    )
    assert result.exit_code == 1
    assert "error: policy nearest: failed in a worker process: RuntimeError: boom" in (
        result.stderr
    )
    assert result.stdout == ""


def test_workers_must_be_at_least_one() -> None:
    with pytest.raises(InputError, match="--workers: must be >= 1, got 0"):
        simulate(days=DAYS, workers=0)


def _json(tmp_path: Path, workers: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "suanli", "simulate", "--days", str(DAYS), "--json",
         "--no-report", "--workers", str(workers)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    for row in out["policies"].values():
        row.pop("decisions_per_s")  # timing
    return out


def test_the_command_prints_the_same_json_with_two_workers_as_with_one(tmp_path: Path) -> None:
    assert _json(tmp_path, 2) == _json(tmp_path, 1)

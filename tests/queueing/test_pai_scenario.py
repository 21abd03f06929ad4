"""The pai-2020 scenario and its trace workload, and its queueing figures in `--json`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from suanli.errors import InputError
from suanli.model import Job
from suanli.scenario import load_scenario
from suanli.workload import traces
from suanli.workload.pai import DEFAULT_LOAD, TENANT_MIX, pai_workload

SCENARIO = load_scenario("pai-2020")


def test_the_fleet_is_the_machine_spec_scaled_to_the_sample_with_quotas_per_flavor() -> None:
    gpus: Counter[str] = Counter()
    for pool in SCENARIO.sites["pai"].pools:
        gpus[pool.accelerator] += pool.accelerators
    assert gpus == {"P100": 154, "T4": 96, "PAI-MISC": 216, "V100": 184}
    config = SCENARIO.queueing
    assert config is not None and set(config.queues) == set(TENANT_MIX)
    for flavor, n in gpus.items():  # the nominal quotas split each flavor's GPUs
        assert sum(q.quotas[flavor].nominal for q in config.queues.values()) == n


@pytest.fixture(scope="module")
def jobs() -> list[Job]:
    return pai_workload(SCENARIO)


def test_the_workload_replays_every_trace_job_in_order_at_the_stated_offered_load(
    jobs: list[Job],
) -> None:
    assert len(jobs) == len(traces.pai_arrivals_h()) == 99_998
    arrivals = np.array([j.arrival_h for j in jobs])
    assert (np.diff(arrivals) >= 0).all()
    runtime = np.array([j.duration_h / SCENARIO.catalog[j.types[0]].train.value for j in jobs])
    assert np.allclose(runtime, traces.pai_lengths_h())  # each runs its trace length
    asked = float(sum(j.accelerators * r for j, r in zip(jobs, runtime, strict=True)))
    offered = asked / (SCENARIO.accelerators * arrivals[-1])
    assert offered == pytest.approx(DEFAULT_LOAD)


def test_accelerators_per_job_follow_the_pai_ladder_with_its_mean(
    jobs: list[Job],
) -> None:
    sizes = np.array([j.accelerators for j in jobs])
    assert set(sizes) <= {0.5, 1.0, 2.0, 4.0, 8.0}
    pai = traces.cluster_summary()["PAI"]
    assert sizes.mean() == pytest.approx(pai["avg_gpu_num"], abs=0.01)
    assert np.median(sizes) == pai["med_gpu_num"]


def test_days_keeps_only_the_jobs_that_arrive_within_them_and_a_bad_load_is_refused() -> None:
    few = pai_workload(SCENARIO, days=0.05)
    assert few and all(j.arrival_h < 1.2 for j in few)
    with pytest.raises(InputError, match="load"):
        pai_workload(SCENARIO, load=0.0)


def test_simulate_json_and_report_carry_the_queueing_figures_of_every_policy(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "suanli", "simulate", "--scenario", "pai-2020", "--days", "0.05",
         "--policy", "slurm", "--policy", "suanli-queue", "--no-bound", "--report", "r.html",
         "--json", "--policy-set", "none"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["scenario"] == "pai-2020" and out["jobs"] == len(pai_workload(SCENARIO, days=0.05))
    keys = {"mean_jct_h", "p95_jct_h", "max_wait_h", "jain_fairness", "preemptions",
            "wasted_gpu_h", "quota_violations", "per_tenant"}  # fmt: skip
    for name in ("slurm", "suanli-queue"):
        row = out["policies"][name]
        assert keys <= set(row)
        assert row["quota_violations"] == 0
        assert 0 < row["jain_fairness"] <= 1
        assert sum(t["jobs"] for t in row["per_tenant"].values()) == out["jobs"]
    report = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Multi-tenant queueing" in report
    assert all(t in report for t in TENANT_MIX)  # per-tenant rows and share series

"""The `suanli simulate` command, run as a user would: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from suanli.scenario import load_scenario
from suanli.workload import generate_workload, save_workload


def suanli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "suanli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def small_workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wl") / "jobs.csv"
    jobs = generate_workload(load_scenario("china-edwc"), seed=3, days=0.05)
    save_workload(jobs, path)
    return path


def test_simulate_json_prints_one_object_with_every_policy_and_writes_the_report(
    tmp_path: Path, small_workload: Path
) -> None:
    report = tmp_path / "out" / "report.html"
    done = suanli("simulate", "--workload", str(small_workload), "--json", "--report",
                  str(report), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["scenario"] == "china-edwc"
    assert out["jobs"] == len(small_workload.read_text().splitlines()) - 1
    assert set(out["policies"]) == {"nearest", "cheapest", "greenest", "suanli"}
    keys = {
        "objective_yuan", "energy_mwh", "energy_cost_yuan", "carbon_t", "mean_wait_h",
        "p95_wait_h", "deadline_miss_rate", "utilization", "data_moved_tb", "jobs_completed",
        "jobs_rejected", "residency_violations",
    }  # fmt: skip
    for row in out["policies"].values():
        assert keys <= set(row)
        assert row["jobs_completed"] + row["jobs_rejected"] == out["jobs"]
        assert row["residency_violations"] == 0
        assert row["objective_yuan"] >= out["lower_bound_objective_yuan"] - 1e-6
    text = report.read_text()
    assert text.startswith("<!doctype html>")
    assert "PlotlyGeoAssets" in text and "Where the carbon went" in text
    assert "Fragmentation per site" in text and "Ascend910B" in text
    # plotly.js and the base map are embedded: no script or data is fetched from elsewhere
    assert '<script src="http' not in text and "<script src='http" not in text


def test_simulate_prints_a_summary_table_by_default(tmp_path: Path, small_workload: Path) -> None:
    done = suanli("simulate", "--workload", str(small_workload), "--policy", "suanli",
                  "--no-bound", "--no-report", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "suanli" in done.stdout and "objective" in done.stdout
    assert "JCT floor" not in done.stdout  # no queueing policy ran: no queueing table
    assert not (tmp_path / "suanli-report.html").exists()


def test_a_queueing_policy_adds_the_queueing_table(tmp_path: Path, small_workload: Path) -> None:
    done = suanli("simulate", "--workload", str(small_workload), "--policy", "suanli-queue",
                  "--no-bound", "--no-report", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "queueing" in done.stdout and "JCT floor (h)" in done.stdout
    assert "suanli-queue" in done.stdout.split("queueing", 1)[1]


HEADER = (
    "id,tenant,kind,accelerators,types,duration_h,arrival_h,data_site,data_size_gb,classification\n"
)

SCENARIO = """apiVersion: suanli/v1
kind: Scenario
metadata: {name: two-sites}
spec:
  start: 2023-06-05T00:00:00Z
  hours: 24
  sites:
    - id: a
      name: Site A
      hub: test
      operator: test
      jurisdiction: CN
      region: east
      lat: 30.0
      lon: 110.0
      pue: PUE
      powerCapMw: 1.0
      price: {timeOfUse: {base: 0.5}}
      carbon: {modelledAroundMean: {mean: 0.5, profile: flat}}
      pools:
        - {accelerator: TYPE, nodes: 2, perNode: 8}
  tenants:
    - {id: fin-bank, name: Bank, sector: finance, jurisdiction: CN}
"""


def test_load_scales_the_generated_workload(tmp_path: Path) -> None:
    counts, loads = [], []
    for load in ("0.32", "0.64"):
        done = suanli("simulate", "--days", "0.1", "--load", load, "--policy", "nearest",
                      "--no-bound", "--no-report", "--json", cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        counts.append(out["jobs"])
        asked = out["offered_load"] * out["accelerators"] * out["window_h"]
        loads.append(asked)
    default = generate_workload(load_scenario("china-edwc"), seed=7, days=0.1)
    assert counts[0] == len(default)
    assert loads[0] == pytest.approx(sum(j.accelerators * j.duration_h for j in default), 1e-3)
    assert counts[1] == pytest.approx(2 * counts[0], abs=1)


def scenario_text(pue: str = "1.2", accelerator: str = "A100") -> str:
    return SCENARIO.replace("PUE", pue).replace("TYPE", accelerator)


@pytest.mark.parametrize(
    ("args", "files", "expected"),
    [
        pytest.param(["--policy", "fastest"], {}, "unknown policy 'fastest'", id="unknown-policy"),
        pytest.param(["--days", "0"], {}, "--days", id="zero-days"),
        pytest.param(["--load", "0"], {}, "load: must be in (0, 1.5], got 0", id="zero-load"),
        pytest.param(["--load", "2"], {}, "load: must be in (0, 1.5], got 2", id="load-too-high"),
        pytest.param(
            ["--load", "0.5", "--workload", "w.csv"],
            {"w.csv": HEADER},
            "load: sets a generated or trace workload's load, not a given one's",
            id="load-with-a-workload-file",
        ),
        pytest.param(
            ["--scenario", "pai-2020", "--load", "3"],
            {},
            "load: must be in (0, 2], got 3",
            id="trace-load-too-high",
        ),
        pytest.param(["--scenario", "mars"], {}, "mars", id="unknown-scenario"),
        pytest.param(
            ["--scenario", "s.yaml"],
            {"s.yaml": "spec: [unclosed"},
            "s.yaml",
            id="scenario-yaml-syntax",
        ),
        pytest.param(
            ["--scenario", "s.yaml"],
            {"s.yaml": scenario_text(pue="0.8")},
            "s.yaml: spec.sites[0].pue",
            id="scenario-pue-below-one",
        ),
        pytest.param(
            ["--scenario", "s.yaml"],
            {"s.yaml": scenario_text(accelerator="Z9000")},
            "Z9000",
            id="scenario-unknown-accelerator",
        ),
        pytest.param(
            ["--workload", "w.csv"],
            {
                "w.csv": HEADER.replace("classification", "classification,deadline_h")
                + "j1,fin-bank,train,2,A100,1,5,yrd-demo,10,general,4\n"
            },
            "deadline",
            id="workload-deadline-before-arrival",
        ),
        pytest.param(["--workload", "missing.csv"], {}, "missing.csv", id="workload-missing"),
        pytest.param(
            ["--workload", "w.csv"],
            {"w.csv": HEADER + "j1,fin-bank,train,-2,A100,1,0,yrd-demo,10,general\n"},
            "accelerators",
            id="workload-negative-count",
        ),
        pytest.param(
            ["--workload", "w.csv"],
            {"w.csv": HEADER + "j1,fin-bank,train,2,Z9000,1,0,yrd-demo,10,general\n"},
            "Z9000",
            id="workload-unknown-accelerator",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_place_and_writes_no_report(
    tmp_path: Path, args: list[str], files: dict[str, str], expected: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = suanli("simulate", *args, "--report", "r.html", cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "r.html").exists()

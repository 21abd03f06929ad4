"""``suanli frag`` end to end: JSON on stdout, report, errors, and a small sweep through Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from frag_builders import write_fine_trace, write_trace
from typer.testing import CliRunner

from suanli.cli import app
from suanli.frag.experiment import parse_seeds, run_single

runner = CliRunner()


def test_json_mode_prints_exactly_one_object(tmp_path: Path) -> None:
    nodes, pods = write_trace(tmp_path)
    report = tmp_path / "out" / "report.html"
    result = runner.invoke(
        app,
        [
            "frag",
            "--nodes",
            str(nodes),
            "--pods",
            str(pods),
            "--policy",
            "FGD",
            "--seeds",
            "42-43",
            "--json",
            "--no-ray",
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert obj["policy"] == "FGD" and obj["seeds"] == [42, 43] and obj["pods"] == str(pods)
    assert set(obj["unallocated_gpu_pct"]) == {"100", "130"} and set(obj["sd"]) == {"100", "130"}
    assert obj["decisions_per_s"] > 0
    html = report.read_text()
    assert "plotly" in html.lower() and "Unallocated GPU" in html


def test_bad_input_exits_2_names_the_place_and_writes_no_report(tmp_path: Path) -> None:
    nodes, pods = write_trace(tmp_path)
    pods.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np1,many,1,1,500\n")
    report = tmp_path / "report.html"
    result = runner.invoke(
        app,
        ["frag", "--nodes", str(nodes), "--pods", str(pods), "--no-ray", "--report", str(report)],
    )
    assert result.exit_code == 2
    assert f"{pods}, line 2, column cpu_milli" in result.stderr
    assert not report.exists()


def test_an_unknown_policy_exits_2(tmp_path: Path) -> None:
    nodes, pods = write_trace(tmp_path)
    result = runner.invoke(
        app, ["frag", "--nodes", str(nodes), "--pods", str(pods), "--policy", "tetris", "--no-ray"]
    )
    assert result.exit_code == 2
    assert "unknown policy" in result.stderr


@pytest.mark.parametrize(
    ("spec", "seeds"),
    [pytest.param("42-44", [42, 43, 44], id="range"), pytest.param("7,3,7", [3, 7], id="list")],
)
def test_seed_specs(spec: str, seeds: list[int]) -> None:
    assert parse_seeds(spec) == seeds


@pytest.mark.slow
def test_a_ray_sweep_gives_the_same_table_as_a_local_run(tmp_path: Path) -> None:
    import ray

    nodes, pods = write_trace(tmp_path / "trace", gz=True)
    try:
        local = run_single(nodes, pods, "bestfit,fgd,suanli", [42, 43], use_ray=False)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        distributed = run_single(nodes, pods, "bestfit,fgd,suanli", [42, 43], use_ray=True)
    finally:
        ray.shutdown()
    assert [(s.policy, s.trace, s.seeds, s.mean, s.sd, s.curve) for s in local.summaries] == [
        (s.policy, s.trace, s.seeds, s.mean, s.sd, s.curve) for s in distributed.summaries
    ]
    assert not ray.is_initialized()


@pytest.mark.slow
def test_the_sweep_command_writes_table_comparison_and_report(tmp_path: Path) -> None:
    folder = tmp_path / "trace"
    write_fine_trace(folder)
    (folder / "published_unallocated_gpu_pct.csv").write_text(
        "trace,policy,arrived_pct,mean_unallocated_gpu_pct,sd,seeds\nfine,FGD,100,5.00,0.10,10\n"
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "frag",
            "--sweep",
            str(folder),
            "--out",
            str(out),
            "--seeds",
            "42",
            "--workers",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert obj["policy"] == "all" and len(obj["results"]) == 7
    table = (out / "unallocated_gpu_pct.csv").read_text().splitlines()
    assert table[0] == "trace,policy,arrived_pct,mean_unallocated_gpu_pct,sd,seeds"
    assert len(table) == 1 + 2 * 7
    assert "fine,FGD,100,5.00," in (out / "comparison.csv").read_text()
    assert (out / "report.html").exists()

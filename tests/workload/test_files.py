"""Job files: CSV and Parquet round trips, openb pod lists, and every kind of bad row."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from suanli.core.queueing import parse_queueing
from suanli.errors import WorkloadError
from suanli.model import Classification, Job, JobKind, Scenario
from suanli.scenario import load_scenario
from suanli.workload import COLUMNS, generate_workload, load_workload, save_workload


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario("china-edwc")


@pytest.fixture(scope="module")
def day(scenario: Scenario) -> list[Job]:
    return generate_workload(scenario, seed=3, days=0.5)


@pytest.mark.parametrize(
    "suffix", [pytest.param(".csv", id="csv"), pytest.param(".parquet", id="parquet")]
)
def test_a_saved_workload_loads_back_equal(
    tmp_path: Path, scenario: Scenario, day: list[Job], suffix: str
) -> None:
    path = save_workload(day, tmp_path / f"jobs{suffix}")
    assert load_workload(path, scenario) == day


GOOD_ROW = {
    "id": "a1", "tenant": "fin-bank", "kind": "online-inference", "accelerators": "0.5",
    "types": "L40S|T4", "duration_h": "2", "arrival_h": "1.5", "deadline_h": "3.5",
    "latency_slo_ms": "20", "data_site": "wuhu", "data_size_gb": "1", "classification":
    "personal", "users_site": "wuhu", "priority": "2", "gang": "true",
}  # fmt: skip


def write_rows(tmp_path: Path, rows: list[dict[str, str]], name: str = "jobs.csv") -> Path:
    header = list(rows[0])
    lines = [",".join(header)] + [",".join(r[c] for c in header) for r in rows]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_hand_written_row_becomes_the_job_it_says(tmp_path: Path, scenario: Scenario) -> None:
    [job] = load_workload(write_rows(tmp_path, [GOOD_ROW]), scenario)
    assert job.kind is JobKind.ONLINE_INFERENCE and job.types == ("L40S", "T4")
    assert job.data.classification is Classification.PERSONAL and job.latency_slo_ms == 20


def test_optional_columns_may_be_empty_or_absent(tmp_path: Path, scenario: Scenario) -> None:
    row = {**GOOD_ROW, "deadline_h": "", "latency_slo_ms": "", "users_site": "", "types": ""}
    del row["priority"], row["gang"]
    [job] = load_workload(write_rows(tmp_path, [row]), scenario)
    assert job.deadline_h is None and job.users_site is None and job.priority == 0 and job.gang
    assert set(job.types) == {p.accelerator for s in scenario.sites.values() for p in s.pools}


BAD_CELLS = [
    pytest.param("accelerators", "-2", "must be > 0, got -2", id="negative-accelerators"),
    pytest.param("accelerators", "2.5", "whole number", id="fractional-above-one"),
    pytest.param("accelerators", "lots", "must be a number", id="not-a-number"),
    pytest.param("types", "L40S|B200", "unknown accelerator type 'B200'", id="unknown-type"),
    pytest.param("tenant", "acme", "unknown tenant 'acme'", id="unknown-tenant"),
    pytest.param("kind", "mining", "must be one of", id="unknown-kind"),
    pytest.param("data_site", "mars", "unknown site 'mars'", id="unknown-data-site"),
    pytest.param("users_site", "mars", "unknown site 'mars'", id="unknown-users-site"),
    pytest.param("deadline_h", "1.0", "must be >= arrival_h (1.5), got 1", id="deadline-first"),
    pytest.param("duration_h", "0", "must be > 0", id="zero-duration"),
    pytest.param("arrival_h", "-1", "must be >= 0", id="negative-arrival"),
    pytest.param("data_size_gb", "-3", "must be >= 0", id="negative-data"),
    pytest.param("classification", "secret", "must be one of", id="unknown-class"),
    pytest.param("latency_slo_ms", "0", "must be > 0", id="zero-slo"),
    pytest.param("gang", "maybe", "true or false", id="bad-flag"),
    pytest.param("priority", "1.5", "whole number", id="fractional-priority"),
    pytest.param("id", "", "must not be empty", id="empty-id"),
    pytest.param("duration_h", "nan", "finite", id="nan-duration"),
]


@pytest.mark.parametrize(("column", "value", "problem"), BAD_CELLS)
def test_a_bad_cell_names_file_row_and_column(
    tmp_path: Path, scenario: Scenario, column: str, value: str, problem: str
) -> None:
    rows = [dict(GOOD_ROW, id=f"a{i}") for i in range(16)] + [{**GOOD_ROW, column: value}]
    with pytest.raises(WorkloadError) as info:
        load_workload(write_rows(tmp_path, rows), scenario)
    assert info.value.place == f"jobs.csv: row 18, column {column}"
    assert problem in info.value.problem


TRAIN_ROW = {
    **GOOD_ROW, "id": "t1", "kind": "train", "accelerators": "600", "types": "A100",
    "latency_slo_ms": "", "users_site": "", "span": "hub",
}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"span": "region"}, "must be one of pool, hub, got 'region'", id="unknown"),
        pytest.param({"kind": "batch-inference"}, "a batch-inference job cannot span sites",
                     id="inference-cannot-span"),
        pytest.param({"accelerators": "1"}, "more than one accelerator", id="one-accelerator"),
        pytest.param({"gang": "false"}, "more than one accelerator", id="not-a-gang"),
    ],
)  # fmt: skip
def test_a_bad_span_names_the_column(
    tmp_path: Path, scenario: Scenario, changes: dict[str, str], problem: str
) -> None:
    with pytest.raises(WorkloadError) as info:
        load_workload(write_rows(tmp_path, [{**TRAIN_ROW, **changes}]), scenario)
    assert info.value.place == "jobs.csv: row 2, column span"
    assert problem in info.value.problem


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_span_defaults_to_pool_and_round_trips(
    tmp_path: Path, scenario: Scenario, suffix: str
) -> None:
    rows = [TRAIN_ROW, {**TRAIN_ROW, "id": "t2", "span": ""}]
    jobs = load_workload(write_rows(tmp_path, rows), scenario)
    assert [j.span for j in jobs] == ["hub", "pool"]
    assert load_workload(save_workload(jobs, tmp_path / f"back{suffix}"), scenario) == jobs


def test_the_brief_example_message(tmp_path: Path, scenario: Scenario) -> None:
    rows = [dict(GOOD_ROW, id=f"a{i}") for i in range(15)] + [{**GOOD_ROW, "accelerators": "-2"}]
    with pytest.raises(WorkloadError) as info:
        load_workload(write_rows(tmp_path, rows), scenario)
    assert str(info.value) == "jobs.csv: row 17, column accelerators: must be > 0, got -2"


def test_duplicate_ids_are_refused(tmp_path: Path, scenario: Scenario) -> None:
    with pytest.raises(WorkloadError, match="row 3, column id: duplicate job id 'a1'"):
        load_workload(write_rows(tmp_path, [GOOD_ROW, GOOD_ROW]), scenario)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(lambda r: r.pop("kind"), "missing column(s) kind", id="missing-column"),
        pytest.param(lambda r: r.update(colour="red"), "unknown column(s) colour", id="extra"),
    ],
)
def test_a_bad_header_is_row_1(
    tmp_path: Path, scenario: Scenario, change: object, problem: str
) -> None:
    row = dict(GOOD_ROW)
    change(row)  # type: ignore[operator]
    with pytest.raises(WorkloadError) as info:
        load_workload(write_rows(tmp_path, [row]), scenario)
    assert info.value.place == "jobs.csv: row 1" and problem in info.value.problem


def test_a_bad_parquet_cell_names_the_row(
    tmp_path: Path, scenario: Scenario, day: list[Job]
) -> None:
    broken = [*day[:4], day[4].copy(tenant="nobody")]
    path = save_workload(broken, tmp_path / "jobs.parquet")
    with pytest.raises(WorkloadError) as info:
        load_workload(path, scenario)
    assert info.value.place == "jobs.parquet: row 6, column tenant"


def test_a_missing_file_is_a_workload_error(tmp_path: Path, scenario: Scenario) -> None:
    with pytest.raises(WorkloadError, match="no such file"):
        load_workload(tmp_path / "none.csv", scenario)


OPENB = """\
name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
openb-pod-0000,12000,16384,1,1000,,LS,Running,0,12537496,0
openb-pod-0001,6000,12288,1,460,,LS,Running,427061,12902960,427061
openb-pod-0002,88000,327680,8,1000,,Burstable,Succeeded,9437497,10769854,9437497
openb-pod-0003,4000,15258,1,220,V100M16|V100M32,BE,Running,9679175,9973826,9679175
openb-pod-0004,8000,30517,0,0,,BE,Running,11811762,11827364,11811762
openb-pod-0005,11908,47104,1,1000,T4,BE,Pending,10001278,10001403,
"""


def test_an_openb_pod_list_maps_by_the_documented_rule(tmp_path: Path, scenario: Scenario) -> None:
    path = tmp_path / "openb_pod_list_default.csv"
    path.write_text(OPENB, encoding="utf-8")
    jobs = {
        j.id: j for j in load_workload(path, scenario, tenant="edu-universities", site="tianfu")
    }
    assert "openb-pod-0004" not in jobs  # CPU-only
    share = jobs["openb-pod-0001"]
    assert share.kind is JobKind.ONLINE_INFERENCE and share.accelerators == pytest.approx(0.46)
    assert share.arrival_h == pytest.approx(427061 / 3600)
    assert share.deadline_h == pytest.approx(share.arrival_h + share.duration_h)
    assert share.users_site == "tianfu" and share.tenant == "edu-universities"
    gang = jobs["openb-pod-0002"]
    assert gang.kind is JobKind.FINETUNE and gang.accelerators == 8 and gang.deadline_h is None
    assert jobs["openb-pod-0003"].types == ("V100",)
    assert jobs["openb-pod-0003"].kind is JobKind.BATCH_INFERENCE
    pending = jobs["openb-pod-0005"]
    assert pending.types == ("T4",) and pending.duration_h == pytest.approx(125 / 3600)


def test_a_short_openb_variant_without_times_loads(tmp_path: Path, scenario: Scenario) -> None:
    path = tmp_path / "openb_pod_list_multigpu20.csv"
    path.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,12000,16384,1,1000\np1,8000,1,4,1000\n",
        encoding="utf-8",
    )
    jobs = load_workload(path, scenario)
    assert [j.accelerators for j in jobs] == [1.0, 4.0]
    assert all(j.arrival_h == 0 and j.duration_h == 1.0 for j in jobs)


def test_a_bad_openb_row_names_row_and_column(tmp_path: Path, scenario: Scenario) -> None:
    path = tmp_path / "pods.csv"
    path.write_text(OPENB.replace("1,460,", "1,1460,"), encoding="utf-8")
    with pytest.raises(WorkloadError) as info:
        load_workload(path, scenario)
    assert info.value.place == "pods.csv: row 3, column gpu_milli"


def test_the_schema_columns_are_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "workload.md").read_text(encoding="utf-8")
    for column in COLUMNS:
        assert f"`{column}`" in doc


GOVERNANCE_ROW = {
    **GOOD_ROW, "model_id": "base-llm-70b", "public_facing": "true", "generative": "false",
    "people": "120000", "sensitive_people": "9999",
}  # fmt: skip


def test_the_governance_columns_load_into_the_job(tmp_path: Path, scenario: Scenario) -> None:
    [job] = load_workload(write_rows(tmp_path, [GOVERNANCE_ROW]), scenario)
    assert (job.model_id, job.public_facing, job.generative) == ("base-llm-70b", True, False)
    assert (job.data.people, job.data.sensitive_people) == (120_000, 9_999)


def test_the_governance_columns_default_when_empty(tmp_path: Path, scenario: Scenario) -> None:
    row = {**GOVERNANCE_ROW, "model_id": "", "public_facing": "", "generative": "", "people": "",
           "sensitive_people": ""}  # fmt: skip
    [job] = load_workload(write_rows(tmp_path, [row]), scenario)
    assert (job.model_id, job.public_facing, job.generative) == (None, False, True)
    assert (job.data.people, job.data.sensitive_people) == (None, 0)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param("people", "-1", id="negative-people"),
        pytest.param("people", "1.5", id="fractional-people"),
        pytest.param("sensitive_people", "many", id="sensitive-not-a-number"),
        pytest.param("public_facing", "perhaps", id="public-not-a-flag"),
    ],
)
def test_a_bad_governance_cell_names_its_column(
    tmp_path: Path, scenario: Scenario, column: str, value: str
) -> None:
    with pytest.raises(WorkloadError) as info:
        load_workload(write_rows(tmp_path, [{**GOVERNANCE_ROW, column: value}]), scenario)
    assert info.value.place == f"jobs.csv: row 2, column {column}"


@pytest.mark.parametrize(
    "suffix", [pytest.param(".csv", id="csv"), pytest.param(".parquet", id="parquet")]
)
def test_generated_governance_facts_survive_a_round_trip(
    tmp_path: Path, scenario: Scenario, day: list[Job], suffix: str
) -> None:
    assert any(j.data.people is not None for j in day) and any(j.public_facing for j in day)
    back = load_workload(save_workload(day, tmp_path / f"jobs{suffix}"), scenario)
    assert [(j.model_id, j.public_facing, j.generative, j.data.people, j.data.sensitive_people)
            for j in back] == [
        (j.model_id, j.public_facing, j.generative, j.data.people, j.data.sensitive_people)
        for j in day
    ]  # fmt: skip


@pytest.fixture(scope="module")
def with_classes(scenario: Scenario) -> Scenario:
    queueing = parse_queueing(
        {
            "queues": [{"name": "q", "tenants": ["fin-bank"]}],
            "priorityClasses": [
                {"name": "urgent", "value": 100},
                {"name": "bulk", "value": -5, "preemptionPolicy": "Never", "globalDefault": True},
            ],
        },
        ["A100"], list(scenario.tenants), "queueing",
    )  # fmt: skip
    return dataclasses.replace(scenario, queueing=queueing)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        pytest.param({"priority_class": "urgent", "priority": ""}, ("urgent", 100, True),
                     id="named"),
        pytest.param({"priority_class": "bulk", "priority": ""}, ("bulk", -5, False), id="never"),
        pytest.param({"priority_class": "", "priority": ""}, ("bulk", -5, False), id="default"),
        pytest.param({"priority_class": "", "priority": "2"}, (None, 2, True), id="a-bare-number"),
    ],
)  # fmt: skip
def test_a_priority_class_sets_the_priority_and_whether_the_job_preempts(
    tmp_path: Path, with_classes: Scenario, cells: dict[str, str], expected: tuple[object, ...]
) -> None:
    [job] = load_workload(write_rows(tmp_path, [{**GOOD_ROW, **cells}]), with_classes)
    assert (job.priority_class, job.priority, job.preempts) == expected


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        pytest.param({"priority_class": "vip", "priority": ""}, "unknown priority class 'vip'",
                     id="unknown"),
        pytest.param({"priority_class": "urgent", "priority": "3"},
                     "give priority or priority_class, not both", id="both"),
    ],
)  # fmt: skip
def test_a_bad_priority_class_names_the_row_and_column(
    tmp_path: Path, with_classes: Scenario, cells: dict[str, str], problem: str
) -> None:
    with pytest.raises(WorkloadError) as info:
        load_workload(write_rows(tmp_path, [{**GOOD_ROW, **cells}]), with_classes)
    place = "jobs.csv: row 2, column priority_class"
    assert (info.value.place, info.value.problem) == (place, problem)

"""The parts of the cluster backends that need no cluster: the backends file and its errors,
the routing of jobs to their site's backend, liveness, and how Slurm and Ray are asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.errors import InputError
from suanli.service import Service, ServiceConfig
from suanli.service.backends import (
    BackendUnavailable,
    FakeBackend,
    Launch,
    RayBackend,
    SiteBackends,
    SlurmBackend,
    load_backends,
)
from suanli.service.backends.slurm import parse_jobs
from suanli.service.failover import Liveness

SUANLI = [sys.executable, "-c", "from suanli.cli import main; main()"]


def _launch(count: float = 1, nodes: int = 1, acc: str = "A800") -> Launch:
    return Launch("j-1", ("sh", "-c", "true"), "guian", acc, count, 0.1, nodes=nodes)


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "backends.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def _slurm_site(tmp_path: Path, **changes: object) -> dict[str, object]:
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=x\n")
    return {"type": "slurm", "conf": str(conf), "workdir": str(tmp_path / "runs"), **changes}


def _doc(sites: dict[str, object], **top: object) -> dict[str, object]:
    return {"apiVersion": "suanli/v1", "kind": "Backends", "sites": sites, **top}


@pytest.mark.parametrize(
    ("answers", "transitions"),
    [
        pytest.param([(True, 0), (False, 5), (False, 9)], [None, None, None], id="not-yet"),
        pytest.param([(True, 0), (False, 5), (False, 10)], [None, None, "down"], id="down"),
        pytest.param(
            [(False, 0), (False, 10), (False, 20), (True, 21)],
            [None, "down", None, "up"],
            id="down-once-then-up",
        ),
        pytest.param([(True, 0), (True, 30), (False, 35)], [None, None, None], id="recent-ok"),
    ],
)
def test_a_site_is_down_after_it_has_not_answered_for_the_configured_time(
    answers: list[tuple[bool, float]], transitions: list[str | None]
) -> None:
    live = Liveness(down_after_s=10)
    assert [live.observe("guian", ok, at) for ok, at in answers] == transitions


@pytest.mark.parametrize(
    ("text", "place", "problem"),
    [
        pytest.param("sites: [", "backends.yaml", "not valid YAML", id="yaml"),
        pytest.param({"kind": "Backends", "sites": {}}, "apiVersion", "Field required", id="api"),
        pytest.param(
            {"apiVersion": "suanli/v1", "kind": "Backend"}, "kind", "'Backends'", id="kind"
        ),
        pytest.param(_doc({"guian": {"type": "pbs"}}), "sites.guian", "tag 'pbs'", id="type"),
        pytest.param(
            _doc({"g": {"type": "ray", "address": "10.0.0.1:8265"}}),
            "sites.g.ray.address",
            "should match pattern",
            id="address",
        ),
        pytest.param(
            _doc({"g": {"type": "ray", "address": "http://h:8265", "port": 1}}),
            "sites.g.ray.port",
            "Extra inputs",
            id="unknown-field",
        ),
        pytest.param(
            _doc({"g": {"type": "slurm", "conf": "/nonexistent/slurm.conf", "workdir": "/tmp"}}),
            "sites.g.conf",
            "no such file",
            id="conf-missing",
        ),
        pytest.param(
            _doc({}, health={"downAfterS": 0}), "health.downAfterS", "greater than 0", id="health"
        ),
    ],
)
def test_a_bad_backends_file_is_an_error_naming_the_file_and_the_field(
    tmp_path: Path, text: object, place: str, problem: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_backends(path)
    assert str(path) in str(err.value) and place in err.value.place
    assert problem in err.value.problem


def test_a_backends_file_naming_an_unknown_site_is_refused_before_serving(tmp_path: Path) -> None:
    path = _write(tmp_path, _doc({"atlantis": _slurm_site(tmp_path)}))
    with pytest.raises(InputError, match=r"sites\.atlantis: no such site in the service"):
        Service(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'db'}", backends=path))


def _bad_backends(tmp_path: Path) -> tuple[list[str], list[str]]:
    path = _write(tmp_path, _doc({"guian": {"type": "slurm"}}))
    return ["--backends", str(path)], ["sites.guian.slurm.conf"]


def _bad_ledger_key(tmp_path: Path) -> tuple[list[str], list[str]]:
    key = tmp_path / "ledger.key"
    key.write_text("not a key\n")
    return ["--ledger-key", str(key)], [str(key), "64 hex digits"]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(_bad_backends, id="backends-file"),
        pytest.param(_bad_ledger_key, id="ledger-key-file"),
    ],
)
def test_serve_with_a_bad_option_file_exits_2_names_it_and_writes_no_database(
    tmp_path: Path, bad: Any
) -> None:
    options, named = bad(tmp_path)
    db = tmp_path / "suanli.db"
    done = subprocess.run(
        [*SUANLI, "serve", "--db", str(db), *options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    for text in named:
        assert text in done.stderr.replace("\n", "")
    assert not db.exists()


def test_site_backends_route_each_job_to_its_site_and_refuse_sites_without_one() -> None:
    guian, sg = FakeBackend(), FakeBackend()
    router = SiteBackends({"guian": guian, "sg": sg})
    handle = router.submit(_launch())
    assert handle.startswith("guian|fake:j-1:")
    assert list(guian.submitted) == ["j-1"] and not sg.submitted
    assert router.poll(handle) == guian.poll(handle.split("|", 1)[1])
    router.cancel(handle)
    assert guian.cancelled == {handle.split("|", 1)[1]}
    assert router.dispatchable("sg") and not router.dispatchable("qingyang")
    with pytest.raises(BackendUnavailable, match="qingyang: no backend"):
        router.submit(Launch("j-2", ("true",), "qingyang", "A800", 1, 0.1))


@pytest.mark.parametrize(
    ("launch", "expected"),
    [
        pytest.param(_launch(), ["--gres=gpu:a800:1", "--nodes=1"], id="one"),
        pytest.param(_launch(0.5), ["--gres=gpu:a800:1"], id="share-asks-for-a-whole-one"),
        pytest.param(_launch(16, nodes=2), ["--gres=gpu:a800:8", "--nodes=2"], id="gang"),
        pytest.param(
            _launch(acc="H800"), ["--gres=gpu:h800:1", "--partition=hopper"], id="partition"
        ),
    ],
)
def test_slurm_batch_jobs_ask_for_gres_nodes_and_partitions_from_the_request(
    tmp_path: Path, launch: Launch, expected: list[str]
) -> None:
    b = SlurmBackend("guian", tmp_path / "slurm.conf", tmp_path, partitions={"H800": "hopper"})
    args = b.sbatch_args(launch)
    assert all(e in args for e in expected), args
    assert "--job-name=suanli-j-1" in args


def test_slurm_job_lines_are_read_into_fields() -> None:
    line = (
        "JobId=12 JobName=suanli-j-1 UserId=root(0) JobState=FAILED Reason=NonZeroExitCode "
        "ExitCode=3:0 NodeList=vm Command=(null) WorkDir=/tmp/a b\n"
        "JobId=13 JobName=suanli-j-2 JobState=RUNNING ExitCode=0:0\n"
    )
    jobs = parse_jobs(line)
    assert jobs["12"]["JobState"] == "FAILED" and jobs["12"]["ExitCode"] == "3:0"
    assert jobs["13"]["JobName"] == "suanli-j-2"
    assert parse_jobs("No jobs in the system\n") == {}


def test_ray_jobs_ask_for_gpus_and_the_sites_custom_resources() -> None:
    b = RayBackend("jp-tk", "http://127.0.0.1:1", resources={"H100": {"H100": 1, "hbm": 80}})
    assert b.entrypoint_resources(_launch(2, acc="H100")) == (2.0, {"H100": 2, "hbm": 160})
    assert b.entrypoint_resources(_launch(1, acc="A100")) == (1.0, {})


def test_a_ray_cluster_that_does_not_answer_is_unavailable_not_a_failed_job() -> None:
    b = RayBackend("jp-tk", "http://127.0.0.1:9", timeout_s=2)
    assert not b.health().healthy
    with pytest.raises(BackendUnavailable, match="jp-tk"):
        b.poll("suanli-j-1")


def test_the_fake_backend_keeps_only_its_latest_submissions() -> None:
    from suanli.service.backends.fake import SUBMITTED_KEPT

    fake = FakeBackend()
    for i in range(SUBMITTED_KEPT + 5):
        fake.submit(Launch(f"j-{i}", ("true",), "guian", "A800", 1, 0.1))
    assert len(fake.submitted) == SUBMITTED_KEPT and fake.submitted[0] == "j-5"

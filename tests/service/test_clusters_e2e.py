"""End to end with real clusters: `suanli serve` with two Slurm sites and one Ray site; a tenant
submits through the CLI; each job runs on the cluster the scheduler chose (the file it writes
says where), its state and exit code in Suanli match the cluster's, cancel stops it there; and
Suanli and the clusters agree after `suanli serve` is killed and restarted mid-run."""

from __future__ import annotations

from pathlib import Path

import pytest
from clusters import clusters, job_file, lines, proof, serving
from serving import wait_for

pytestmark = pytest.mark.slow


def test_jobs_run_on_the_chosen_slurm_and_ray_clusters_with_their_states_and_exit_codes(
    tmp_path: Path,
) -> None:
    c = clusters()
    out = {name: tmp_path / f"{name}.out" for name in ("a", "b", "ray", "fails", "long", "rlong")}
    with serving(tmp_path, c.backends_file(tmp_path)) as s:
        submitted = {
            "a": job_file(tmp_path, "a", proof(out["a"]), site="guian", types=("A800",)),
            "b": job_file(tmp_path, "b", proof(out["b"]), site="sg", types=("A100",)),
            "ray": job_file(tmp_path, "ray", proof(out["ray"]), site="jp-tk", types=("H100",)),
            "fails": job_file(
                tmp_path, "fails", proof(out["fails"], code=3), site="sg", types=("A100",)
            ),
            "long": job_file(tmp_path, "long", proof(out["long"], 300), site="guian"),
            "rlong": job_file(
                tmp_path, "rlong", proof(out["rlong"], 300), site="jp-tk", types=("H100",)
            ),
        }
        ids = {k: s.cli("submit", str(p)).split()[0] for k, p in submitted.items()}

        # each ran where the scheduler placed it, on that site's cluster
        for name, site, cluster in (("a", "guian", "suanli-a"), ("b", "sg", "suanli-b")):
            job = s.wait_state(ids[name], "succeeded")
            assert job["status"]["site"] == site
            slurm_id = s.handle(ids[name]).split("|")[1].split(":")[0]
            assert lines(out[name]) == [
                f"start {site} {cluster} {slurm_id}",
                f"done {site} {cluster} {slurm_id}",
            ]
            assert c.slurm_job(site, slurm_id)["JobState"] == "COMPLETED"
            assert c.slurm_job(site, slurm_id)["ExitCode"] == "0:0"
        ray = s.wait_state(ids["ray"], "succeeded")
        assert ray["status"]["site"] == "jp-tk"
        assert lines(out["ray"]) == ["start jp-tk ray -", "done jp-tk ray -"]
        info, logs = c.ray_job(s.handle(ids["ray"]).split("|")[1])
        assert str(info.status) in ("SUCCEEDED", "JobStatus.SUCCEEDED")
        assert "done jp-tk ray -" in logs

        # a failing job: Suanli's exit code is Slurm's
        failed = s.wait_state(ids["fails"], "failed")
        slurm_id = s.handle(ids["fails"]).split("|")[1].split(":")[0]
        assert failed["status"]["reason"].startswith("exit 3 ")
        assert c.slurm_job("sg", slurm_id)["ExitCode"] == "3:0"

        # cancel stops the job on its cluster
        for name in ("long", "rlong"):
            wait_for(lambda n=name: lines(out[n])[:1], timeout=60, every=0.3)
            s.cli("cancel", ids[name])
            s.wait_state(ids[name], "cancelled")
        slurm_id = s.handle(ids["long"]).split("|")[1].split(":")[0]
        wait_for(lambda: c.slurm_job("guian", slurm_id)["JobState"] == "CANCELLED", timeout=30)
        info, _ = c.ray_job(s.handle(ids["rlong"]).split("|")[1])
        wait_for(
            lambda: "STOPPED" in str(c.ray_job(s.handle(ids["rlong"]).split("|")[1])[0].status),
            timeout=30,
        )
        assert len(lines(out["long"])) == 1 and len(lines(out["rlong"])) == 1  # never finished
        shown = s.cli("job", ids["a"])
        assert "launched on the slurm backend of guian" in shown


def test_suanli_and_the_clusters_agree_after_serve_is_killed_and_restarted_mid_run(
    tmp_path: Path,
) -> None:
    c = clusters()
    out = {name: tmp_path / f"{name}.out" for name in ("slurm", "ray", "late")}
    with serving(tmp_path, c.backends_file(tmp_path)) as s:
        ids = {
            "slurm": s.cli(
                "submit", str(job_file(tmp_path, "slurm", proof(out["slurm"], 6)))
            ).split()[0],
            "ray": s.cli(
                "submit",
                str(job_file(tmp_path, "ray", proof(out["ray"], 6), site="jp-tk", types=("H100",))),
            ).split()[0],
        }
        for name in ids:
            s.wait_state(ids[name], "running")
            wait_for(lambda n=name: lines(out[n])[:1], timeout=60, every=0.3)
        handles = {name: s.handle(job_id) for name, job_id in ids.items()}
        s.kill()  # mid-run: both jobs still running on their clusters
        late = job_file(tmp_path, "late", proof(out["late"]), site="sg", types=("A100",))
        s.start()
        ids["late"] = s.cli("submit", str(late)).split()[0]
        for name in ids:
            s.wait_state(ids[name], "succeeded")
        # the restarted service followed the same runs: nothing was launched twice
        assert {name: s.handle(ids[name]) for name in handles} == handles
        for name in ids:
            assert [x.split()[0] for x in lines(out[name])] == ["start", "done"], name
        slurm_id = handles["slurm"].split("|")[1].split(":")[0]
        assert c.slurm_job("guian", slurm_id)["JobState"] == "COMPLETED"
        info, _ = c.ray_job(handles["ray"].split("|")[1])
        assert "SUCCEEDED" in str(info.status)

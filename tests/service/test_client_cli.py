"""The command line: `suanli serve` with no arguments, `suanli admin create-token`, and the
client commands against a live service that runs real commands (local backend)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from serving import running_service, wait_for
from typer.testing import CliRunner

from suanli.cli import app

SUANLI = [sys.executable, "-c", "from suanli.cli import main; main()"]


def _job_file(tmp_path: Path, name: str, command: list[str]) -> Path:
    deadline = (datetime.now(UTC) + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = {
        "apiVersion": "suanli/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "kind": "batch-inference",
            "accelerators": {"count": 1, "types": ["A800", "Ascend910B"]},
            "durationHours": 0.1,
            "command": command,
            "data": {"site": "guian", "sizeGB": 0, "classification": "general"},
            "deadline": deadline,
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_client_commands_submit_list_show_and_cancel(sqlite_url: str, tmp_path: Path) -> None:
    with running_service(sqlite_url, backend="local", workdir=tmp_path / "runs") as svc:
        env = {"SUANLI_URL": svc.url, "SUANLI_TOKEN": svc.tokens["tenant"]}
        cli = CliRunner()
        ok = cli.invoke(
            app,
            ["submit", str(_job_file(tmp_path, "hello", ["sh", "-c", "echo done > out"]))],
            env=env,
        )
        assert ok.exit_code == 0, ok.output
        job_id = ok.output.split()[0]
        wait_for(lambda: "succeeded" in cli.invoke(app, ["job", job_id], env=env).output)
        assert (tmp_path / "runs" / job_id / "out").read_text() == "done\n"
        shown = yaml.safe_load(cli.invoke(app, ["job", job_id], env=env).output)
        assert [e["toState"] for e in shown["events"]] == [
            "queued",
            "admitted",
            "running",
            "succeeded",
        ]
        long = cli.invoke(
            app, ["submit", str(_job_file(tmp_path, "long", ["sleep", "60"]))], env=env
        ).output.split()[0]
        wait_for(lambda: "running" in cli.invoke(app, ["job", long], env=env).output)
        assert cli.invoke(app, ["cancel", long], env=env).exit_code == 0
        wait_for(lambda: "cancelled" in cli.invoke(app, ["jobs", "--json"], env=env).output)
        listed = cli.invoke(app, ["jobs"], env=env).output
        assert "hello" in listed and "long" in listed
        assert "guian" in cli.invoke(app, ["sites"], env=env).output
        bad = cli.invoke(app, ["job", "j-0000000000000000"], env=env)
        assert bad.exit_code == 2 and "404" in bad.output


@pytest.mark.slow
def test_serve_with_no_arguments_runs_a_first_job_on_sqlite_with_the_local_backend(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("SUANLI_DB", None)
    token = subprocess.run(
        [*SUANLI, "admin", "create-token", "--role", "operator"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert (tmp_path / "data" / "suanli" / "suanli.db").exists()
    server = subprocess.Popen(
        [*SUANLI, "serve"], env=env, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        url = "http://127.0.0.1:8600"
        headers = {"Authorization": f"Bearer {token}"}

        def up() -> bool:
            try:
                return httpx.get(f"{url}/v1/health").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=30, every=0.2)
        with httpx.Client(base_url=url, headers=headers) as c:
            assert len(c.get("/v1/sites").json()) == 16
            doc = yaml.safe_load(_job_file(tmp_path, "first", ["echo", "hi"]).read_text())
            doc["metadata"]["tenant"] = "fin-bank"
            job = c.post("/v1/jobs", json=doc).json()
            wait_for(
                lambda: c.get(f"/v1/jobs/{job['id']}").json()["status"]["state"] == "succeeded",
                timeout=30,
            )
        log = tmp_path / "data" / "suanli" / "runs" / job["id"] / "output.log"
        assert log.read_text() == "hi\n"
    finally:
        server.terminate()
        server.wait(timeout=20)
        time.sleep(0.1)

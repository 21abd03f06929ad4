"""Helpers of the tests with real clusters: two Slurm clusters and a Ray head started by
``source scripts/services-clusters.sh``, and `suanli serve` run as a user runs it (a process).

Without the clusters (``SUANLI_TEST_SLURM_CONFS`` unset) these tests are skipped, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from serving import free_port, job_doc, wait_for

from suanli.service.backends.slurm import parse_jobs

SUANLI = [sys.executable, "-c", "from suanli.cli import main; main()"]
ENVS = ("SUANLI_TEST_SLURM_CONFS", "SUANLI_TEST_RAY_ADDRESS", "SUANLI_TEST_RAY_TOKEN_FILE")
#: the sites the tests map to clusters: guian (CN) -> Slurm a, sg (SG) -> Slurm b, jp-tk -> Ray
SLURM_SITES = ("guian", "sg")


@dataclass(frozen=True)
class Clusters:
    confs: dict[str, Path]  # site -> slurm.conf
    ray: str
    ray_token: Path
    script: Path

    def slurm_job(self, site: str, slurm_id: str) -> dict[str, str]:
        """What the site's Slurm controller says about a job (``scontrol show job``)."""
        out = subprocess.run(
            ["scontrol", "show", "job", "-o", slurm_id],
            env={**os.environ, "SLURM_CONF": str(self.confs[site])},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return parse_jobs(out)[slurm_id]

    def controller(self, action: str, site: str) -> None:
        """``stop`` or ``start`` the Slurm controller of a site's cluster."""
        cluster = self.confs[site].parent.name
        subprocess.run(["bash", str(self.script), f"{action}-ctld", cluster], check=True)

    def ray_job(self, submission_id: str) -> Any:
        from ray.job_submission import JobSubmissionClient

        token = self.ray_token.read_text().strip()
        client = JobSubmissionClient(self.ray, headers={"Authorization": f"Bearer {token}"})
        return client.get_job_info(submission_id), client.get_job_logs(submission_id)

    def backends_file(self, tmp_path: Path, down_after_s: float = 30.0) -> Path:
        doc = {
            "apiVersion": "suanli/v1",
            "kind": "Backends",
            "default": "none",
            "health": {"intervalS": 0.5, "downAfterS": down_after_s},
            "sites": {
                "guian": {
                    "type": "slurm",
                    "conf": str(self.confs["guian"]),
                    "workdir": str(tmp_path / "runs"),
                    "gres": {"A800": "gpu:a800"},
                    "accelerators": ["A800"],
                },
                "sg": {
                    "type": "slurm",
                    "conf": str(self.confs["sg"]),
                    "workdir": str(tmp_path / "runs"),
                    "gres": {"A100": "gpu:a100"},
                    "accelerators": ["A100"],
                },
                "jp-tk": {
                    "type": "ray",
                    "address": self.ray,
                    "tokenFile": str(self.ray_token),
                    "resources": {"H100": {"H100": 1}},
                    "accelerators": ["H100"],
                },
            },
        }
        path = tmp_path / "backends.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path


def clusters() -> Clusters:
    missing = [e for e in ENVS if not os.environ.get(e)]
    if missing:
        msg = f"{', '.join(missing)} not set: run `source scripts/services-clusters.sh` first"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(f"no test clusters: {msg}")
    a, b = os.environ["SUANLI_TEST_SLURM_CONFS"].split(":")
    script = Path(__file__).resolve().parents[2] / "scripts" / "services-clusters.sh"
    return Clusters(
        {"guian": Path(a), "sg": Path(b)},
        os.environ["SUANLI_TEST_RAY_ADDRESS"],
        Path(os.environ["SUANLI_TEST_RAY_TOKEN_FILE"]),
        Path(os.environ.get("SUANLI_TEST_CLUSTERS_SCRIPT", script)),
    )


def job_file(
    tmp_path: Path,
    name: str,
    script: str,
    *,
    site: str = "guian",
    types: tuple[str, ...] = ("A800",),
    classification: str = "general",
) -> Path:
    """A job document whose command is ``sh -c script`` (it runs in its job directory)."""
    doc = job_doc(
        name=name,
        kind="batch-inference",
        accelerators={"count": 1, "types": list(types)},
        durationHours=0.1,
        command=["sh", "-c", script],
        data={"site": site, "sizeGB": 0, "classification": classification},
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def proof(out: Path, seconds: float = 0, code: int = 0) -> str:
    """A job script that writes where it runs to ``out`` (and its output), when it starts and
    when it ends: ``start|done <site> <Slurm cluster or ray> <Slurm job id or ->``."""
    where = '"$SUANLI_SITE ${SLURM_CLUSTER_NAME:-ray} ${SLURM_JOB_ID:--}"'
    # a stopped job must not write "done": the cluster may signal the sleep before the shell,
    # which would then go on to the next line (seen once in a full run)
    return (
        f'trap "exit 143" TERM INT; echo "start "{where} | tee -a {out}; sleep {seconds} && '
        f'echo "done "{where} | tee -a {out}; exit {code}'
    )


class Served:
    """`suanli serve` in a process of its own, with a tenant's and an operator's tokens."""

    def __init__(self, tmp_path: Path, backends: Path) -> None:
        self.db = f"sqlite:///{tmp_path / 'suanli.db'}"
        self.backends = backends
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        self.tokens = {
            who: self._suanli("admin", "create-token", *args, "--db", self.db).stdout.strip()
            for who, args in (
                ("tenant", ("--role", "tenant", "--tenant", "fin-bank")),
                ("operator", ("--role", "operator")),
            )
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def _suanli(self, *args: str, who: str = "") -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SUANLI_URL": self.url}
        if who:
            env["SUANLI_TOKEN"] = self.tokens[who]
        return subprocess.run([*SUANLI, *args], env=env, capture_output=True, text=True)

    def cli(self, *args: str, who: str = "tenant") -> str:
        """A client command (``submit``, ``job``, ``cancel``); its output, or a test failure."""
        done = self._suanli(*args, who=who)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        args = ["serve", "--db", self.db, "--backends", str(self.backends), "--port"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*SUANLI, *args, str(self.port), "--policy", "nearest", "--lease-ttl", "2"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def up() -> bool:
            try:
                return httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=60, every=0.2)

    def kill(self) -> None:
        """SIGKILL the whole service (API and scheduler process), as a crash would."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None

    def job(self, job_id: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.tokens['operator']}"}
        got = httpx.get(f"{self.url}/v1/jobs/{job_id}", headers=headers, timeout=10)
        doc: dict[str, Any] = got.json()
        return doc

    def handle(self, job_id: str) -> str:
        """The backend handle of a job, from the service's database (``site|id...``)."""
        import sqlite3

        with sqlite3.connect(self.db.removeprefix("sqlite:///")) as conn:
            (handle,) = conn.execute("SELECT handle FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return str(handle or "")

    def events(self, job_id: str) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.tokens['operator']}"}
        got = httpx.get(f"{self.url}/v1/jobs/{job_id}/events", headers=headers, timeout=10)
        items: list[dict[str, Any]] = got.json()
        return items

    def health(self, site: str) -> str:
        """A site's health as the service shows it (``up`` or ``down``)."""
        headers = {"Authorization": f"Bearer {self.tokens['operator']}"}
        got = httpx.get(f"{self.url}/v1/sites/{site}", headers=headers, timeout=10)
        return str(got.json()["health"])

    def state(self, job_id: str) -> str:
        return str(self.job(job_id)["status"]["state"])

    def wait_state(self, job_id: str, *states: str, timeout: float = 90) -> dict[str, Any]:
        wait_for(lambda: self.state(job_id) in states, timeout=timeout, every=0.3)
        return self.job(job_id)


@contextmanager
def serving(tmp_path: Path, backends: Path) -> Iterator[Served]:
    served = Served(tmp_path, backends)
    served.start()
    try:
        yield served
    finally:
        served.stop()
        if served.log.exists():
            print(served.log.read_text()[-4000:])


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)


def settle(seconds: float) -> None:
    time.sleep(seconds)

"""The Slurm backend: a site's placed jobs run on its Slurm cluster, through Slurm's commands.

Every command runs with the site's own ``SLURM_CONF``, so one service drives several clusters
at once (one backend per site). A job becomes one batch job named ``suanli-<job id>``:

* accelerators -> ``--gres=<gres>:<count per node>`` (the site's GRES name per accelerator
  type, default ``gpu:<type in lower case>``; a share of one accelerator asks for a whole one)
  and the partition configured for the type (else the site's, else the cluster's default);
* a gang job on ``nodes`` > 1 -> ``--nodes=N --ntasks-per-node=1``, the accelerators spread
  evenly over the nodes (the command runs on the first node; it uses ``srun`` for the others);
* preemption -> ``scontrol requeue`` (the job runs again from its start, or from its own
  checkpoint); the grace period is the cluster's ``KillWait`` between SIGTERM and SIGKILL.

State comes from ``scontrol show job -o``, read once per ``poll_interval_s`` for all jobs of
the cluster: PENDING, CONFIGURING, RUNNING, COMPLETING, SUSPENDED are running; COMPLETED is
succeeded (exit 0); FAILED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, BOOT_FAIL, DEADLINE and
CANCELLED are failed, with Slurm's exit code; PREEMPTED and a job Slurm has forgotten are lost,
unless the wrapper's ``exit`` file in the job directory (``workdir/<job id>/exit``, on a file
system the cluster shares with the service) says how it ended. A controller that does not
answer raises `BackendUnavailable`.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path

from suanli.service.backends.base import (
    BackendUnavailable,
    Health,
    Launch,
    RunState,
    RunStatus,
    Snapshot,
)

#: runs the job's command in its directory, then records its exit status atomically
SCRIPT = """#!/bin/sh
{command}
code=$?
echo $code > exit.tmp && mv exit.tmp exit
exit $code
"""

ACTIVE = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}
)
FAILED = frozenset(
    {"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "CANCELLED"}
)
#: what a job inherits of the service's environment (sbatch --export=ALL passes the rest)
PASSED = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR"})
_FIELD = re.compile(r"(\w[\w/:]*)=(\S*)")


class SlurmBackend:
    """One Slurm cluster (one site), driven through ``sbatch``, ``scontrol`` and ``scancel``."""

    name = "slurm"

    def __init__(
        self,
        site: str,
        conf: Path,
        workdir: Path,
        *,
        partition: str | None = None,
        partitions: Mapping[str, str] | None = None,
        gres: Mapping[str, str] | None = None,
        cpus_per_task: int = 1,
        timeout_s: float = 10.0,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.site, self.conf, self.workdir = site, conf, workdir
        self.partition = partition
        self.partitions = dict(partitions or {})
        self.gres = dict(gres or {})
        self.cpus_per_task = cpus_per_task
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        #: every job the controller knows, by Slurm job id
        self._jobs = Snapshot(self._read, poll_interval_s)

    # -- commands ------------------------------------------------------------------------

    def _run(self, *args: str, stdin: str | None = None, env: Mapping[str, str] = {}) -> str:
        # the service's own environment (database URL, tokens) does not reach the jobs
        full = {k: v for k, v in os.environ.items() if k in PASSED or k.startswith("LC_")}
        full.update(env)
        full["SLURM_CONF"] = str(self.conf)
        try:
            out = subprocess.run(
                args,
                input=stdin,
                capture_output=True,
                text=True,
                env=full,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BackendUnavailable(
                f"{self.site}: {args[0]} did not answer in {self.timeout_s:g} s"
            ) from None
        except OSError as exc:
            raise BackendUnavailable(f"{self.site}: cannot run {args[0]}: {exc}") from None
        if out.returncode != 0:
            lines = [x for x in (out.stderr + out.stdout).splitlines() if x.strip("* ")]
            said = [x for x in lines if "DOWN" in x or "error" in x]
            text = (said or lines or [f"exit {out.returncode}"])[-1].strip()
            if "Invalid job id" in text or "already completing or completed" in text:
                return ""  # the job is gone or ending: nothing to read or to stop
            raise BackendUnavailable(f"{self.site}: {args[0]}: {text}")
        return out.stdout

    def sbatch_args(self, launch: Launch) -> list[str]:
        """The options of the batch job of a placed job."""
        nodes = max(1, launch.nodes)
        per_node = max(1, math.ceil(launch.count / nodes))
        gres = self.gres.get(launch.accelerator, f"gpu:{launch.accelerator.lower()}")
        d = self.workdir / launch.job_id
        args = [
            "--parsable",
            f"--job-name=suanli-{launch.job_id}",
            f"--chdir={d}",
            f"--output={d / 'output.log'}",
            f"--gres={gres}:{per_node}",
            f"--nodes={nodes}",
            "--ntasks-per-node=1",
            f"--cpus-per-task={self.cpus_per_task}",
            "--export=ALL",
        ]
        partition = self.partitions.get(launch.accelerator, self.partition)
        if partition:
            args.append(f"--partition={partition}")
        return args

    # -- the protocol --------------------------------------------------------------------

    def submit(self, launch: Launch) -> str:
        name = f"suanli-{launch.job_id}"
        for slurm_id, job in self._jobs.get(fresh=True).items():
            if job.get("JobName") == name and job.get("JobState") != "CANCELLED":
                # submitted before a restart (running or ended): adopt it
                return f"{slurm_id}:{launch.job_id}"
        d = self.workdir / launch.job_id
        d.mkdir(parents=True, exist_ok=True)
        for stale in ("exit", "exit.tmp"):
            (d / stale).unlink(missing_ok=True)
        env = {
            **launch.env,
            "SUANLI_JOB_ID": launch.job_id,
            "SUANLI_SITE": launch.site,
            "SUANLI_ACCELERATOR": launch.accelerator,
            "SUANLI_ACCELERATORS": f"{launch.count:g}",
        }
        script = SCRIPT.format(command=shlex.join(launch.command))
        out = self._run("sbatch", *self.sbatch_args(launch), stdin=script, env=env)
        slurm_id = out.strip().split(";")[0]
        if not slurm_id.isdigit():
            raise BackendUnavailable(f"{self.site}: sbatch answered {out.strip()!r}")
        self._jobs.clear()
        return f"{slurm_id}:{launch.job_id}"

    def poll(self, handle: str) -> RunStatus:
        slurm_id, job_id = _split(handle)
        job = self._jobs.get().get(slurm_id)
        if job is None:
            return self._from_exit_file(job_id, slurm_id)
        state = job.get("JobState", "")
        code = job.get("ExitCode", "0:0")
        if state in ACTIVE:
            return RunStatus(RunState.RUNNING, f"Slurm job {slurm_id}: {state.lower()}")
        if state == "COMPLETED":
            return RunStatus(RunState.SUCCEEDED, f"exit 0 (Slurm job {slurm_id} COMPLETED)")
        if state in FAILED:
            status, _, signal = code.partition(":")
            why = f"exit {status}" if signal in ("", "0") else f"signal {signal}"
            return RunStatus(RunState.FAILED, f"{why} (Slurm job {slurm_id} {state})")
        return RunStatus(RunState.LOST, f"Slurm job {slurm_id} is {state}")

    def cancel(self, handle: str) -> None:
        slurm_id, _ = _split(handle)
        self._run("scancel", slurm_id)
        self._jobs.clear()

    def preempt(self, handle: str, grace_s: float = 30.0) -> None:
        """Requeue the job: Slurm signals it (SIGTERM, then SIGKILL after KillWait) and runs it
        again when resources allow; ``grace_s`` is bounded by the cluster's KillWait."""
        slurm_id, _ = _split(handle)
        self._run("scontrol", "requeue", slurm_id)
        self._jobs.clear()

    def health(self) -> Health:
        return self._jobs.health(
            f"{self.site}: the Slurm controller answers",
            lambda jobs: sum(1 for j in jobs.values() if j.get("JobState") in ACTIVE),
        )

    def logs(self, handle: str, tail: int = 100) -> str:
        _, job_id = _split(handle)
        path = self.workdir / job_id / "output.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-tail:])

    # -- state ---------------------------------------------------------------------------

    def _read(self) -> dict[str, dict[str, str]]:
        # a down controller makes scontrol retry for seconds; ping answers at once
        if "UP" not in self._run("scontrol", "ping"):
            raise BackendUnavailable(f"{self.site}: the Slurm controller is down")
        return parse_jobs(self._run("scontrol", "show", "job", "-o"))

    def _from_exit_file(self, job_id: str, slurm_id: str) -> RunStatus:
        exit_file = self.workdir / job_id / "exit"
        if exit_file.exists():
            code = int(exit_file.read_text().strip() or "1")
            state = RunState.SUCCEEDED if code == 0 else RunState.FAILED
            return RunStatus(state, f"exit {code} (Slurm job {slurm_id}, from its exit file)")
        return RunStatus(RunState.LOST, f"Slurm no longer knows job {slurm_id}")


def parse_jobs(text: str) -> dict[str, dict[str, str]]:
    """``scontrol show job -o`` (one job a line) -> fields by Slurm job id."""
    jobs: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        fields = dict(_FIELD.findall(line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


def _split(handle: str) -> tuple[str, str]:
    slurm_id, _, job_id = handle.partition(":")
    return slurm_id, job_id

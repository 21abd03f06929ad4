"""The Ray backend: a site's placed jobs run on its Ray cluster, through the Ray Jobs API.

A job becomes one Ray job (``ray.job_submission.JobSubmissionClient``) with submission id
``suanli-<job id>``: its entrypoint is the job's command in a shell that records the exit
status, accelerators become ``entrypoint_num_gpus`` (the count, unless the site maps the type
to other resources) and the site's custom resources per accelerator (e.g. ``{"H100": 1}`` per
H100, which the cluster's nodes declare with ``ray start --resources``). States: PENDING and
RUNNING are running, SUCCEEDED succeeded, FAILED failed (with the driver's exit code), STOPPED
failed (stopped); a job the cluster does not know is lost. A dashboard that does not answer
raises `BackendUnavailable`.

Clusters with token authentication (Ray's ``RAY_AUTH_MODE=token``) take the token from a file
(``token_file``), sent as ``Authorization: Bearer``.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suanli.service.backends.base import (
    BackendUnavailable,
    Health,
    Launch,
    RunState,
    RunStatus,
    Snapshot,
)

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

#: the shell around the command: its exit status is the job's last line of output
WRAPPER = '"$@"; code=$?; echo "suanli-exit: $code"; exit $code'


class RayBackend:
    """One Ray cluster (one site), driven through its dashboard's Jobs API."""

    name = "ray"

    def __init__(
        self,
        site: str,
        address: str,
        *,
        token_file: Path | None = None,
        gpus_per_accelerator: Mapping[str, float] | None = None,
        resources: Mapping[str, Mapping[str, float]] | None = None,
        timeout_s: float = 10.0,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.site, self.address = site, address
        self.token_file = token_file
        self.gpus_per_accelerator = dict(gpus_per_accelerator or {})
        self.resources = {k: dict(v) for k, v in (resources or {}).items()}
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self._client: JobSubmissionClient | None = None
        #: every job of the cluster, by submission id
        self._jobs = Snapshot(self._list, poll_interval_s)

    def _connect(self) -> JobSubmissionClient:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            timeout = self.timeout_s

            class Client(JobSubmissionClient):
                # the public methods take no timeout; every request goes through this one
                def _do_request(self, *args: Any, **kwargs: Any) -> Any:
                    kwargs.setdefault("timeout", timeout)
                    return super()._do_request(*args, **kwargs)

            headers = {}
            if self.token_file is not None:
                headers["Authorization"] = "Bearer " + self.token_file.read_text().strip()
            try:
                self._client = Client(self.address, headers=headers)
            except Exception as exc:  # connection refused, timeout, bad token
                raise BackendUnavailable(f"{self.site}: Ray at {self.address}: {exc}") from None
        return self._client

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        client = self._connect()
        try:
            return fn(client, *args, **kwargs)
        except RuntimeError as exc:  # the SDK's answer to a 4xx/5xx
            if "does not exist" in str(exc) or "404" in str(exc):
                return None
            raise BackendUnavailable(f"{self.site}: Ray {what}: {exc}") from None
        except Exception as exc:  # requests' connection errors and timeouts
            self._client = None
            raise BackendUnavailable(f"{self.site}: Ray {what}: {exc}") from None

    def entrypoint_resources(self, launch: Launch) -> tuple[float, dict[str, float]]:
        """(GPUs, custom resources) of a placed job."""
        gpus = launch.count * self.gpus_per_accelerator.get(launch.accelerator, 1.0)
        custom = {
            k: v * launch.count for k, v in self.resources.get(launch.accelerator, {}).items()
        }
        return gpus, custom

    def submit(self, launch: Launch) -> str:
        sid = f"suanli-{launch.job_id}"
        known = self._call("get_job_info", lambda c: c.get_job_info(sid))
        if known is not None and _status(known) != "STOPPED":
            return sid  # submitted before a restart (running or ended): adopt it
        if known is not None:  # a copy stopped here earlier: a new submission id for this run
            sid = f"suanli-{launch.job_id}-{int(time.time() * 1000)}"
        gpus, custom = self.entrypoint_resources(launch)
        env = {
            **launch.env,
            "SUANLI_JOB_ID": launch.job_id,
            "SUANLI_SITE": launch.site,
            "SUANLI_ACCELERATOR": launch.accelerator,
            "SUANLI_ACCELERATORS": f"{launch.count:g}",
        }
        entrypoint = shlex.join(["sh", "-c", WRAPPER, "sh", *launch.command])
        self._call(
            "submit_job",
            lambda c: c.submit_job(
                entrypoint=entrypoint,
                submission_id=sid,
                entrypoint_num_gpus=gpus,
                entrypoint_resources=custom or None,
                runtime_env={"env_vars": env},
                metadata={"suanli_job": launch.job_id, "suanli_site": launch.site},
            ),
        )
        self._jobs.clear()
        return sid

    def poll(self, handle: str) -> RunStatus:
        info = self._jobs.get().get(handle)
        if info is None:
            info = self._call("get_job_info", lambda c: c.get_job_info(handle))
            if info is None:
                return RunStatus(RunState.LOST, f"Ray does not know job {handle}")
        status = _status(info)
        if status in ("PENDING", "RUNNING"):
            return RunStatus(RunState.RUNNING, f"Ray job {handle}: {status.lower()}")
        code = info.driver_exit_code
        if status == "SUCCEEDED":
            return RunStatus(RunState.SUCCEEDED, f"exit 0 (Ray job {handle} SUCCEEDED)")
        if status == "STOPPED":
            return RunStatus(RunState.FAILED, f"stopped (Ray job {handle} STOPPED)")
        return RunStatus(
            RunState.FAILED,
            f"exit {code if code is not None else '?'} (Ray job {handle} {status}: "
            f"{(info.message or '').strip()[:200]})",
        )

    def cancel(self, handle: str) -> None:
        self._call("stop_job", lambda c: c.stop_job(handle))
        self._jobs.clear()

    def health(self) -> Health:
        return self._jobs.health(
            f"{self.site}: Ray at {self.address} answers",
            lambda jobs: sum(1 for j in jobs.values() if _status(j) == "RUNNING"),
        )

    def logs(self, handle: str, tail: int = 100) -> str:
        text = self._call("get_job_logs", lambda c: c.get_job_logs(handle)) or ""
        return "\n".join(str(text).splitlines()[-tail:])

    def _list(self) -> dict[str, Any]:
        listed = self._call("list_jobs", lambda c: c.list_jobs()) or []
        return {j.submission_id: j for j in listed if j.submission_id}


def _status(info: Any) -> str:
    """A Ray job's status as its name (``RUNNING``), whatever the SDK's version returns."""
    return str(getattr(info.status, "value", info.status))

"""The local backend: a placed job's command runs as a process on this machine.

Each job gets a directory under the work directory with its output (``output.log``), its
process id (``pid``) and, when it ends, its exit status (``exit``), written by the shell that
wraps the command. The handle is that directory, so a restarted service finds every job
again: ended (an ``exit`` file), still running (a live process group) or lost.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from pathlib import Path

from suanli.service.backends.base import Health, Launch, RunState, RunStatus

#: runs the command, then records its exit status atomically
WRAPPER = '"$@"; code=$?; echo $code > exit.tmp && mv exit.tmp exit; exit $code'


class LocalBackend:
    name = "local"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def submit(self, launch: Launch) -> str:
        d = self.workdir / launch.job_id
        if (d / "pid").exists():
            return str(d)  # launched before a restart: adopt it
        d.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **launch.env,
            "SUANLI_JOB_ID": launch.job_id,
            "SUANLI_SITE": launch.site,
            "SUANLI_ACCELERATOR": launch.accelerator,
            "SUANLI_ACCELERATORS": f"{launch.count:g}",
        }
        with open(d / "output.log", "ab") as out:
            proc = subprocess.Popen(
                ["sh", "-c", WRAPPER, "sh", *launch.command],
                cwd=d,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        (d / "command").write_text(shlex.join(launch.command) + "\n")
        tmp = d / "pid.tmp"
        tmp.write_text(str(proc.pid))
        tmp.replace(d / "pid")
        self._children[str(d)] = proc
        return str(d)

    def poll(self, handle: str) -> RunStatus:
        d = Path(handle)
        child = self._children.get(handle)
        if child is not None and child.poll() is not None:
            self._children.pop(handle, None)
        exit_file = d / "exit"
        if exit_file.exists():
            if child is not None and child.returncode is None:
                # the wrapper writes its status file as its last step: reap it now, so no
                # child of ours is left unwaited (a zombie, and a ResourceWarning at exit)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=1.0)
                    self._children.pop(handle, None)
            code = int(exit_file.read_text().strip() or "1")
            if code == 0:
                return RunStatus(RunState.SUCCEEDED, "exit 0")
            return RunStatus(RunState.FAILED, f"exit {code}")
        if child is not None and child.returncode is None:
            return RunStatus(RunState.RUNNING)
        pid = _read_pid(d)
        if pid is not None and _alive(pid):
            return RunStatus(RunState.RUNNING)
        if child is not None:  # ended without writing its status: killed
            return RunStatus(RunState.FAILED, f"killed (signal {-(child.returncode or 0)})")
        return RunStatus(RunState.LOST, "the process is gone and left no exit status")

    def cancel(self, handle: str) -> None:
        pid = _read_pid(Path(handle))
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)

    def health(self) -> Health:
        return Health(
            os.access(self.workdir, os.W_OK), f"processes under {self.workdir}", len(self._children)
        )

    def logs(self, handle: str, tail: int = 100) -> str:
        path = Path(handle) / "output.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-tail:])


def _read_pid(d: Path) -> int | None:
    try:
        return int((d / "pid").read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not running
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True

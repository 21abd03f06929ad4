"""The backends: the local process backend runs real commands; the fake runs nothing."""

from __future__ import annotations

import time
from pathlib import Path

from serving import wait_for

from suanli.service.backends import (
    Backend,
    FakeBackend,
    Launch,
    LocalBackend,
    RunState,
    SupportsLogs,
)


def launch(job_id: str, *command: str, runtime_h: float = 1.0) -> Launch:
    return Launch(job_id, command, "guian", "A800", 1, runtime_h)


def test_the_local_backend_runs_a_command_and_reports_its_exit(tmp_path: Path) -> None:
    b: Backend = LocalBackend(tmp_path)
    ok = b.submit(launch("j-ok", "sh", "-c", 'echo "hello from $SUANLI_SITE"'))
    bad = b.submit(launch("j-bad", "sh", "-c", "exit 3"))
    assert wait_for(lambda: b.poll(ok).state is RunState.SUCCEEDED)
    assert wait_for(lambda: b.poll(bad).state is RunState.FAILED)
    assert b.poll(bad).detail == "exit 3"
    assert isinstance(b, SupportsLogs) and b.logs(ok) == "hello from guian"
    assert b.health().healthy


def test_the_local_backend_cancels_a_running_command(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path)
    h = b.submit(launch("j-long", "sleep", "30"))
    assert b.poll(h).state is RunState.RUNNING
    b.cancel(h)
    assert wait_for(lambda: b.poll(h).state is RunState.FAILED)


def test_a_restarted_local_backend_finds_its_jobs_again(tmp_path: Path) -> None:
    first = LocalBackend(tmp_path)
    h = first.submit(launch("j-adopt", "sh", "-c", "sleep 0.3"))
    again = LocalBackend(tmp_path)  # a new service process
    assert again.submit(launch("j-adopt", "sh", "-c", "sleep 0.3")) == h  # not launched twice
    assert again.poll(h).state is RunState.RUNNING
    assert wait_for(lambda: again.poll(h).state is RunState.SUCCEEDED)
    assert first.poll(h).state is RunState.SUCCEEDED  # (and the first process reaps its child)
    assert again.poll(str(tmp_path / "j-never")).state is RunState.LOST


def test_the_fake_backend_finishes_jobs_after_their_scaled_run_time() -> None:
    b = FakeBackend(seconds_per_hour=0.2, fail=frozenset({"j-2"}))
    h1, h2 = b.submit(launch("j-1", "x", runtime_h=1)), b.submit(launch("j-2", "x"))
    assert b.poll(h1).state is RunState.RUNNING
    time.sleep(0.25)
    assert b.poll(h1).state is RunState.SUCCEEDED
    assert b.poll(h2).state is RunState.FAILED
    assert FakeBackend().poll(h1).state is RunState.SUCCEEDED  # stateless: a new process sees it
    assert b.poll("garbage").state is RunState.LOST

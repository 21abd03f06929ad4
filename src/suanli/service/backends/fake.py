"""A fake backend for tests and benchmarks: jobs "run" for a scaled share of their run time.

Stateless by design: a handle carries the job's finish time and outcome, so a restarted or
newly elected service polls what an earlier process launched. It runs nothing and is never a
cluster; `suanli serve` uses it only when asked (``--backend fake``).
"""

from __future__ import annotations

import time
from collections import deque

from suanli.service.backends.base import Health, Launch, RunState, RunStatus

#: how many of the latest submissions `FakeBackend.submitted` keeps
SUBMITTED_KEPT = 10_000


class FakeBackend:
    name = "fake"

    def __init__(self, seconds_per_hour: float = 0.0, fail: frozenset[str] = frozenset()) -> None:
        #: wall seconds per run-time hour (0: jobs finish at the next poll)
        self.seconds_per_hour = seconds_per_hour
        #: ids of jobs that fail instead of succeeding
        self.fail = fail
        self.cancelled: set[str] = set()
        #: the ids of the latest submissions, for tests (bounded: a long benchmark run submits
        #: millions)
        self.submitted: deque[str] = deque(maxlen=SUBMITTED_KEPT)

    def submit(self, launch: Launch) -> str:
        self.submitted.append(launch.job_id)
        end = time.time() + launch.runtime_h * self.seconds_per_hour
        outcome = "failed" if launch.job_id in self.fail else "succeeded"
        return f"fake:{launch.job_id}:{end:.3f}:{outcome}"

    def poll(self, handle: str) -> RunStatus:
        try:
            _, _job, end, outcome = handle.split(":")
            end_t = float(end)
        except ValueError:
            return RunStatus(RunState.LOST, f"not a fake handle: {handle!r}")
        if handle in self.cancelled:
            return RunStatus(RunState.FAILED, "cancelled")
        if time.time() < end_t:
            return RunStatus(RunState.RUNNING)
        return RunStatus(RunState(outcome), "fake run ended")

    def cancel(self, handle: str) -> None:
        self.cancelled.add(handle)

    def health(self) -> Health:
        return Health(True, "fake backend (runs nothing)")

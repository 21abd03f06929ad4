"""What runs placed jobs: one required protocol plus optional capabilities.

A backend is told to run a job the scheduler has placed (`Backend.submit`), answers its state
(`poll`), stops it (`cancel`) and reports whether it can take work (`health`). Everything else
is an optional capability a backend may add (`SupportsLogs`); the service checks for it with
``isinstance``. Slurm and Ray backends implement the same protocol.

Handles are strings the backend chooses and the service stores, so a new leader can poll and
cancel work an earlier leader launched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Protocol, TypeVar, runtime_checkable

from suanli.errors import SuanliError


class BackendUnavailable(SuanliError):
    """The backend's cluster did not answer (its controller or API is down or unreachable).

    The service treats it as a missed health check of the site, not as the job's end."""


class RunState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"  # the backend no longer knows the job (it is requeued)


@dataclass(frozen=True, slots=True)
class Launch:
    """A placed job, as a backend needs it."""

    job_id: str
    command: tuple[str, ...]
    site: str
    accelerator: str
    count: float
    runtime_h: float
    env: dict[str, str] = field(default_factory=dict)
    #: a gang job's nodes (its accelerators spread evenly over them); 1 otherwise
    nodes: int = 1


@dataclass(frozen=True, slots=True)
class RunStatus:
    state: RunState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    detail: str = ""
    running: int = 0


class Backend(Protocol):
    """Required of every backend."""

    name: str

    def submit(self, launch: Launch) -> str:
        """Start the job; return its handle. Submitting the same job id twice is harmless."""
        ...

    def poll(self, handle: str) -> RunStatus: ...

    def cancel(self, handle: str) -> None: ...

    def health(self) -> Health: ...


@runtime_checkable
class SupportsPreempt(Protocol):
    """Optional: stop a job so that it can run again later (Slurm: requeue)."""

    def preempt(self, handle: str, grace_s: float = 30.0) -> None: ...


@runtime_checkable
class SupportsLogs(Protocol):
    """Optional: the output of a job."""

    def logs(self, handle: str, tail: int = 100) -> str: ...


T = TypeVar("T")


class Snapshot(Generic[T]):
    """What a cluster answered last (all its jobs, say), read again at most every
    ``interval_s``; a `BackendUnavailable` is kept as an answer too, so a cluster that does
    not answer is not asked again by every poll of the same tick."""

    def __init__(self, read: Callable[[], T], interval_s: float) -> None:
        self.read, self.interval_s = read, interval_s
        self._last: tuple[float, T | BackendUnavailable] | None = None

    def get(self, fresh: bool = False) -> T:
        now = time.monotonic()
        last = self._last
        if fresh or last is None or now - last[0] >= self.interval_s:
            try:
                last = (now, self.read())
            except BackendUnavailable as exc:
                last = (now, exc)
            self._last = last
        if isinstance(last[1], BackendUnavailable):
            raise last[1]
        return last[1]

    def clear(self) -> None:
        self._last = None

    def health(self, detail: str, running: Callable[[T], int]) -> Health:
        """Healthy when the cluster answers a fresh read; ``running`` counts its live jobs."""
        try:
            answer = self.get(fresh=True)
        except BackendUnavailable as exc:
            return Health(False, str(exc))
        return Health(True, detail, running(answer))

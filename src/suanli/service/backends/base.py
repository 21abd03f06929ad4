"""What runs placed jobs: one required protocol plus optional capabilities.

A backend is told to run a job the scheduler has placed (`Backend.submit`), answers its state
(`poll`), stops it (`cancel`) and reports whether it can take work (`health`). Everything else
is an optional capability a backend may add (`SupportsLogs`); the service checks for it with
``isinstance``. Slurm and Ray backends implement the same protocol.

Handles are strings the backend chooses and the service stores, so a new leader can poll and
cancel work an earlier leader launched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


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
class SupportsLogs(Protocol):
    """Optional: the output of a job."""

    def logs(self, handle: str, tail: int = 100) -> str: ...

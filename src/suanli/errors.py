"""Suanli's exceptions.

One root, inspected by type rather than by message text::

    SuanliError
    ├── InputError            bad input from a user: a file, a CLI argument, an API body
    │   ├── ScenarioError     a scenario file (names the file and the path inside it)
    │   ├── WorkloadError     a workload file (names the file, the row or column)
    │   └── UnknownNameError  an unknown policy, accelerator type, site, ...
    ├── SchedulingError       the core was asked for something it cannot do
    └── WorkerError           a worker process of a parallel simulation failed
"""

from __future__ import annotations


class SuanliError(Exception):
    """Root of every error Suanli raises on purpose."""


class InputError(SuanliError):
    """Bad input: names the place (file and path, or argument) and the problem."""

    def __init__(self, place: str, problem: str, hint: str | None = None) -> None:
        self.place = place
        self.problem = problem
        self.hint = hint
        msg = f"{place}: {problem}"
        if hint:
            msg += f" (hint: {hint})"
        super().__init__(msg)

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str, str | None]]:
        # pickled by its fields (a worker process's error reaches the parent unchanged)
        return (type(self), (self.place, self.problem, self.hint))


class ScenarioError(InputError):
    """A scenario file is malformed or inconsistent."""


class WorkloadError(InputError):
    """A workload file is malformed or inconsistent."""


class UnknownNameError(InputError):
    """A name (policy, accelerator type, site, tenant, scenario) that Suanli does not know."""


class SchedulingError(SuanliError):
    """The scheduler core was driven in a way it does not support."""


class WorkerError(SuanliError):
    """A worker process of a parallel simulation failed: names the task and the cause (the
    worker's traceback, when there is one, is in ``detail``)."""

    def __init__(self, task: str, problem: str, detail: str = "") -> None:
        self.task = task
        self.problem = problem
        self.detail = detail
        super().__init__(f"{task}: {problem}")

    def __reduce__(self) -> tuple[type[WorkerError], tuple[str, str, str]]:
        return (type(self), (self.task, self.problem, self.detail))

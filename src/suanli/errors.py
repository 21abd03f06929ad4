"""Suanli's exceptions.

One root, inspected by type rather than by message text::

    SuanliError
    ├── InputError            bad input from a user: a file, a CLI argument, an API body
    │   ├── ScenarioError     a scenario file (names the file and the path inside it)
    │   ├── WorkloadError     a workload file (names the file, the row or column)
    │   └── UnknownNameError  an unknown policy, accelerator type, site, ...
    └── SchedulingError       the core was asked for something it cannot do
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


class ScenarioError(InputError):
    """A scenario file is malformed or inconsistent."""


class WorkloadError(InputError):
    """A workload file is malformed or inconsistent."""


class UnknownNameError(InputError):
    """A name (policy, accelerator type, site, tenant, scenario) that Suanli does not know."""


class SchedulingError(SuanliError):
    """The scheduler core was driven in a way it does not support."""

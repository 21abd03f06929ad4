"""Suanli (算力): a coordinator for AI computing-power networks.

One scheduler core, two clocks: the digital twin (`suanli simulate`) drives it in virtual time,
the control plane (`suanli serve`) in real time.
"""

from suanli.errors import (
    InputError,
    ScenarioError,
    SchedulingError,
    SuanliError,
    UnknownNameError,
    WorkloadError,
)

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "ScenarioError",
    "SchedulingError",
    "SuanliError",
    "UnknownNameError",
    "WorkloadError",
    "__version__",
]

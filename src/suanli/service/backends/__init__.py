"""Backends that run placed jobs: the protocol, the local process backend, the fake."""

from suanli.service.backends.base import (
    Backend,
    Health,
    Launch,
    RunState,
    RunStatus,
    SupportsLogs,
)
from suanli.service.backends.fake import FakeBackend
from suanli.service.backends.local import LocalBackend

__all__ = [
    "Backend",
    "FakeBackend",
    "Health",
    "Launch",
    "LocalBackend",
    "RunState",
    "RunStatus",
    "SupportsLogs",
]

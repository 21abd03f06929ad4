"""Backends that run placed jobs: the protocol, the local process backend, the fake, the Slurm
and Ray cluster backends, and the registry that maps each site to its backend."""

from suanli.service.backends.base import (
    Backend,
    BackendUnavailable,
    Health,
    Launch,
    RunState,
    RunStatus,
    SupportsLogs,
    SupportsPreempt,
)
from suanli.service.backends.fake import FakeBackend
from suanli.service.backends.local import LocalBackend
from suanli.service.backends.ray import RayBackend
from suanli.service.backends.registry import BackendsFile, SiteBackends, load_backends
from suanli.service.backends.slurm import SlurmBackend

__all__ = [
    "Backend",
    "BackendUnavailable",
    "BackendsFile",
    "FakeBackend",
    "Health",
    "Launch",
    "LocalBackend",
    "RayBackend",
    "RunState",
    "RunStatus",
    "SiteBackends",
    "SlurmBackend",
    "SupportsLogs",
    "SupportsPreempt",
    "load_backends",
]

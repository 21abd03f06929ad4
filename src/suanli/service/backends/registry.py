"""Which backend runs each site's jobs: a typed registry read from a ``kind: Backends`` file.

.. code-block:: yaml

    apiVersion: suanli/v1
    kind: Backends
    default: none          # sites not listed: none (they take no work), local or fake
    health: {intervalS: 2, downAfterS: 10}
    sites:
      guian:  {type: slurm, conf: /etc/slurm/guian.conf, workdir: /shared/suanli/runs,
               partition: gpu, gres: {A800: "gpu:a800"}}
      jp-tk:  {type: ray, address: "http://10.1.0.5:8265", tokenFile: /etc/suanli/ray-token,
               resources: {H100: {H100: 1}}}

`SiteBackends` is itself a `Backend`: it sends each launch to its site's backend and prefixes
the handle with the site (``guian|4711:j-…``), so polls and cancels find their cluster again
after a restart. Every error names the file and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from suanli.errors import InputError
from suanli.service.backends.base import (
    Backend,
    BackendUnavailable,
    Health,
    Launch,
    RunStatus,
    SupportsLogs,
    SupportsPreempt,
)
from suanli.service.backends.ray import RayBackend
from suanli.service.backends.slurm import SlurmBackend


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class _Site(_Model):
    #: the accelerator types the cluster really has (default: the site's pools as registered);
    #: the scheduler places work at the site only on pools of these types
    accelerators: list[str] | None = None


class SlurmSite(_Site):
    type: Literal["slurm"]
    #: the cluster's slurm.conf (its ClusterName, controller host and port, auth)
    conf: Path
    #: where job directories (output, exit status) live; shared with the cluster's nodes
    workdir: Path
    partition: str | None = None
    #: accelerator type -> partition, where types live in partitions of their own
    partitions: dict[str, str] = Field(default_factory=dict)
    #: accelerator type -> GRES name (default ``gpu:<type in lower case>``)
    gres: dict[str, str] = Field(default_factory=dict)
    cpus_per_task: int = Field(default=1, ge=1, le=1024, alias="cpusPerTask")
    timeout_s: float = Field(default=10.0, gt=0, le=300, alias="timeoutS")


class RaySite(_Site):
    type: Literal["ray"]
    #: the dashboard's address (Jobs API), e.g. http://head:8265
    address: Annotated[str, Field(pattern=r"^https?://")]
    token_file: Path | None = Field(default=None, alias="tokenFile")
    #: accelerator type -> GPUs per accelerator (default 1)
    gpus: dict[str, float] = Field(default_factory=dict)
    #: accelerator type -> custom Ray resources per accelerator
    resources: dict[str, dict[str, float]] = Field(default_factory=dict)
    timeout_s: float = Field(default=10.0, gt=0, le=300, alias="timeoutS")


class HealthSettings(_Model):
    #: seconds between two liveness checks of each site
    interval_s: float = Field(default=2.0, gt=0, le=3600, alias="intervalS")
    #: a site that has not answered for this long is marked down
    down_after_s: float = Field(default=10.0, gt=0, le=86_400, alias="downAfterS")


class BackendsFile(_Model):
    api_version: Literal["suanli/v1"] = Field(alias="apiVersion")
    kind: Literal["Backends"]
    default: Literal["none", "local", "fake"] = "none"
    health: HealthSettings = HealthSettings()
    sites: dict[str, Annotated[SlurmSite | RaySite, Field(discriminator="type")]] = Field(
        default_factory=dict
    )


def load_backends(path: Path) -> BackendsFile:
    """Read and validate a ``kind: Backends`` file; `InputError` names the file and field."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(str(path), f"cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InputError(str(path), f"not valid YAML: {exc}") from None
    try:
        config = BackendsFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise InputError(f"{path}: {where}", first["msg"]) from None
    for site, spec in config.sites.items():
        if isinstance(spec, SlurmSite) and not spec.conf.is_file():
            raise InputError(f"{path}: sites.{site}.conf", f"no such file: {spec.conf}")
        if isinstance(spec, RaySite) and spec.token_file and not spec.token_file.is_file():
            raise InputError(f"{path}: sites.{site}.tokenFile", f"no such file: {spec.token_file}")
    return config


def build_backend(site: str, spec: SlurmSite | RaySite) -> Backend:
    if isinstance(spec, SlurmSite):
        return SlurmBackend(
            site,
            spec.conf,
            spec.workdir,
            partition=spec.partition,
            partitions=spec.partitions,
            gres=spec.gres,
            cpus_per_task=spec.cpus_per_task,
            timeout_s=spec.timeout_s,
        )
    return RayBackend(
        site,
        spec.address,
        token_file=spec.token_file,
        gpus_per_accelerator=spec.gpus,
        resources=spec.resources,
        timeout_s=spec.timeout_s,
    )


class SiteBackends:
    """Routes each job to its site's backend; sites without one use ``default`` (or none)."""

    name = "site"

    def __init__(
        self,
        by_site: Mapping[str, Backend],
        default: Backend | None = None,
        health: HealthSettings | None = None,
    ) -> None:
        self.by_site = dict(by_site)
        self.default = default
        self.settings = health or HealthSettings()
        #: site -> the accelerator types its cluster has, where the configuration says
        self.accelerators: dict[str, frozenset[str]] = {}

    def dispatchable(self, site: str) -> bool:
        return self.default is not None or site in self.by_site

    def backend_for(self, site: str) -> Backend:
        backend = self.by_site.get(site, self.default)
        if backend is None:
            raise BackendUnavailable(f"{site}: no backend is configured for this site")
        return backend

    def describe(self, site: str) -> str:
        b = self.by_site.get(site, self.default)
        return "no" if b is None else b.name

    def submit(self, launch: Launch) -> str:
        return f"{launch.site}|{self.backend_for(launch.site).submit(launch)}"

    def poll(self, handle: str) -> RunStatus:
        site, inner = split_handle(handle)
        return self.backend_for(site).poll(inner)

    def cancel(self, handle: str) -> None:
        site, inner = split_handle(handle)
        self.backend_for(site).cancel(inner)

    def preempt(self, handle: str, grace_s: float = 30.0) -> None:
        site, inner = split_handle(handle)
        backend = self.backend_for(site)
        if isinstance(backend, SupportsPreempt):
            backend.preempt(inner, grace_s)
        else:
            backend.cancel(inner)

    def health(self) -> Health:
        down = [s for s, b in self.by_site.items() if not b.health().healthy]
        return Health(not down, f"down: {', '.join(down)}" if down else "all sites answer")

    def site_health(self, site: str) -> Health:
        return self.backend_for(site).health()

    def logs(self, handle: str, tail: int = 100) -> str:
        site, inner = split_handle(handle)
        backend = self.backend_for(site)
        return backend.logs(inner, tail) if isinstance(backend, SupportsLogs) else ""


def split_handle(handle: str) -> tuple[str, str]:
    """``guian|4711:j-1`` -> (``guian``, ``4711:j-1``); a handle without a site has ``""``."""
    site, sep, inner = handle.partition("|")
    return (site, inner) if sep else ("", handle)

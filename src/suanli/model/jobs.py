"""Tenants, data assets and jobs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class JobKind(StrEnum):
    TRAIN = "train"
    FINETUNE = "finetune"
    BATCH_INFERENCE = "batch-inference"
    ONLINE_INFERENCE = "online-inference"

    @property
    def inference(self) -> bool:
        """Whether the job's speed follows the inference throughput of an accelerator."""
        return self in (JobKind.BATCH_INFERENCE, JobKind.ONLINE_INFERENCE)


#: how far a job's gang may spread: over the nodes of one pool (every job), or over pools of
#: one accelerator type at two or more sites of its hub where the scenario allows it
#: (``network.crossSiteGangs``; simulator only, see docs/queueing.md)
SPANS = ("pool", "hub")


class Sector(StrEnum):
    FINANCE = "finance"
    HEALTHCARE = "healthcare"
    MANUFACTURING = "manufacturing"
    PUBLIC_SERVICES = "public-services"
    RESEARCH_EDUCATION = "research-education"
    INTERNATIONAL_PARTNER = "international-partner"


class Classification(StrEnum):
    """Data classes (PRC Data Security Law and PIPL), least to most protected."""

    PUBLIC = "public"
    GENERAL = "general"
    PERSONAL = "personal"
    IMPORTANT = "important"
    CORE = "core"


#: Until the governance engine lands: data of these classes is processed only in its own
#: jurisdiction (the country of the site where it lives).
RESTRICTED_CLASSES = frozenset(
    {Classification.PERSONAL, Classification.IMPORTANT, Classification.CORE}
)


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    sector: Sector
    jurisdiction: str
    weight: float = 1.0
    #: nominal quota in accelerators per accelerator type (flavor); enforced by the queueing issue
    quota: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DataAsset:
    site: str
    size_gb: float
    classification: Classification
    #: people whose (non-sensitive) personal information the data holds (None: unknown);
    #: counts only for personal data (governance: cross-border thresholds)
    people: int | None = None
    #: people whose sensitive personal information it holds
    sensitive_people: int = 0


@dataclass(frozen=True, slots=True)
class Job:
    """A unit of AI work.

    Times are hours since the scenario's start. ``accelerators`` may be fractional below 1 (a
    share of one GPU); ``duration_h`` is the run time on the reference accelerator.
    ``deadline_h`` is the latest completion time (None: no deadline); ``latency_slo_ms`` bounds
    the one-way latency from ``users_site`` for online inference.
    """

    id: str
    tenant: str
    kind: JobKind
    accelerators: float
    types: tuple[str, ...]
    duration_h: float
    arrival_h: float
    data: DataAsset
    deadline_h: float | None = None
    latency_slo_ms: float | None = None
    users_site: str | None = None
    priority: int = 0
    gang: bool = True
    #: the model an inference service runs (None: not named; governance: model filing)
    model_id: str | None = None
    #: the service is offered to the public, not only inside the tenant
    public_facing: bool = False
    #: the service generates content (text, images, ...)
    generative: bool = True
    #: the named priority class that gave ``priority`` (None: a bare number)
    priority_class: str | None = None
    #: whether a queueing policy may evict lower-priority work to start this job (a class
    #: with ``preemptionPolicy: Never`` clears it)
    preempts: bool = True
    #: what the submitter expects ``duration_h`` to be (None: the run time is known, as for a
    #: trace replayed in the simulator); an order by length reads this, the run takes
    #: ``duration_h``
    estimate_h: float | None = None
    #: one of `SPANS`: ``"hub"`` lets a multi-node training gang split over sites of its hub
    span: str = "pool"

    @property
    def gpu_hours(self) -> float:
        return self.accelerators * self.duration_h

    def copy(self, **changes: Any) -> Job:
        """A copy with some fields changed (jobs are immutable values)."""
        return replace(self, **changes)

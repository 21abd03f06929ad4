"""Every wire schema of the control plane's API (``/v1``), in one module.

Inputs forbid unknown fields and bound every number and string, so a bad body is a 4xx that
names the field (`Problem`, RFC 9457) before anything reaches storage or the scheduler.
Field names are camelCase on the wire (``durationHours``), snake_case in Python.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from suanli.model import Classification, JobKind, Sector

#: names of things (sites, tenants, jobs): a letter or digit, then letters, digits, . _ -
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
#: ids the service issues for jobs
JOB_ID_PATTERN = r"^j-[0-9a-f]{16}$"

Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=63)]
#: a quota's key: an accelerator type, or a type at a hub or site (``A100@Ningxia``)
FLAVOR_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(@[A-Za-z0-9][A-Za-z0-9._ -]{0,62})?$"
Flavor = Annotated[str, Field(pattern=FLAVOR_PATTERN, min_length=1, max_length=127)]
Count = Annotated[int, Field(ge=0, le=10_000_000)]
Text = Annotated[str, Field(max_length=1024)]


class JobState(StrEnum):
    """Where a job is; every change is an event with its reason."""

    QUEUED = "queued"  # waiting for the scheduler
    PENDING_APPROVAL = "pending-approval"  # waiting for a regulator's decision
    ADMITTED = "admitted"  # placed by the scheduler, capacity held, not yet launched
    RUNNING = "running"  # launched on a backend
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PREEMPTED = "preempted"  # stopped by the platform; requeued
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # infeasible everywhere, or denied by a regulator

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED}
)


class Role(StrEnum):
    OPERATOR = "operator"
    TENANT = "tenant"
    REGULATOR = "regulator"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class Wire(BaseModel):
    """Output models: camelCase on the wire."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class WireIn(BaseModel):
    """Input models: camelCase, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_max_length=4096
    )


# -- problems --------------------------------------------------------------------------


class FieldProblem(Wire):
    field: str
    message: str


class Problem(Wire):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    errors: list[FieldProblem] = []


# -- jobs ------------------------------------------------------------------------------


class AcceleratorRequest(WireIn):
    count: float = Field(gt=0, le=100_000, description="Accelerators (a share below 1 is allowed)")
    types: list[Name] = Field(min_length=1, max_length=16)

    @field_validator("count")
    @classmethod
    def _whole_above_one(cls, v: float) -> float:
        if v > 1 and v != int(v):
            raise ValueError("must be a whole number when above 1")
        return v


class DataSpec(WireIn):
    site: Name
    size_gb: float = Field(default=0.0, ge=0, le=10_000_000, alias="sizeGB")
    classification: Classification = Classification.GENERAL


class CheckpointSpec(WireIn):
    """Where a job keeps its checkpoints, reachable from every site it may run on; each run
    gets it as ``SUANLI_CHECKPOINT`` and resumes from what it finds there."""

    path: Annotated[str, Field(min_length=1, max_length=1024)]


class JobSpec(WireIn):
    kind: JobKind
    accelerators: AcceleratorRequest
    duration_hours: float = Field(gt=0, le=8760, description="At the reference accelerator")
    command: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        min_length=1, max_length=256
    )
    data: DataSpec
    deadline: AwareDatetime | None = None
    latency_slo_ms: float | None = Field(default=None, gt=0, le=10_000)
    users_site: Name | None = None
    priority: int = Field(default=0, ge=-1000, le=1000)
    #: a priority class (``/v1/priority-classes``): the job gets its value (shown here as
    #: ``priority`` once stored) and its preemption policy; without one, the global default
    #: class applies unless ``priority`` is given
    priority_class: Name | None = None
    #: declared: a run moved off a failed site resumes from it; otherwise it restarts
    checkpoint: CheckpointSpec | None = None

    @field_validator("command")
    @classmethod
    def _command_has_no_nul(cls, v: list[str]) -> list[str]:
        for arg in v:
            _no_nul(arg)
        return v


class JobMetadataIn(WireIn):
    name: Name
    #: operators submit on behalf of a tenant; a tenant's token names its own
    tenant: Name | None = None
    labels: dict[Name, Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict, max_length=32
    )

    @field_validator("labels")
    @classmethod
    def _labels_have_no_nul(cls, v: dict[str, str]) -> dict[str, str]:
        for value in v.values():
            _no_nul(value)
        return v


class JobDocument(WireIn):
    """A job as users write it (YAML for the CLI, JSON for the API)."""

    api_version: Literal["suanli/v1"] = Field(alias="apiVersion")
    kind: Literal["Job"]
    metadata: JobMetadataIn
    spec: JobSpec


class JobMetadata(Wire):
    name: str
    tenant: str
    labels: dict[str, str] = {}


class JobStatus(Wire):
    state: JobState
    reason: str = ""
    submitted_at: datetime
    updated_at: datetime
    site: str | None = None
    accelerator: str | None = None
    start_hour: float | None = None
    planned_end_hour: float | None = None
    cost_yuan: float | None = None
    explanation: dict[str, object] | None = None


class Job(Wire):
    id: str
    api_version: Literal["suanli/v1"] = Field(default="suanli/v1", alias="apiVersion")
    kind: Literal["Job"] = "Job"
    metadata: JobMetadata
    spec: JobSpec
    status: JobStatus


class JobPage(Wire):
    items: list[Job]
    #: pass as ``after`` for the next page; null on the last page
    next: int | None = None


class JobEvent(Wire):
    seq: int
    at: datetime
    job_id: str
    action: str
    from_state: str | None
    to_state: str | None
    reason: str
    actor: str


# -- sites, pools, tenants -------------------------------------------------------------


class PoolIn(WireIn):
    accelerator: Name
    nodes: int = Field(ge=1, le=100_000)
    per_node: int = Field(ge=1, le=64)


class Pool(Wire):
    index: int
    accelerator: str
    nodes: int
    per_node: int
    accelerators: int


#: the most hourly values of one attached series: a leap year's hours (366 x 24). Past a
#: series' end its last day repeats (`suanli.core.cost`), so a year of tariffs or forecasts is
#: the most worth sending; and it bounds what one request carries (two full series are about
#: 350 KB of JSON, under the 1 MiB body limit) and what a rebuild of the scheduler reads
MAX_SERIES_HOURS = 366 * 24
#: a series starting before this is taken for a mistake (a Unix time read as hours, a year 0)
SERIES_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: ... and one starting more than this many days ahead of now: the site would use its flat
#: figures until then (send it nearer the time)
SERIES_MAX_DAYS_AHEAD = 366

Source = Annotated[str, Field(min_length=1, max_length=1024)]


class _SeriesIn(WireIn):
    """Hourly values on a UTC time base: ``values[i]`` holds for the hour that begins
    ``start + i`` hours. ``start`` carries its offset (``2026-12-01T00:00:00+08:00`` is
    16:00 UTC the day before); 24 values from a local midnight are a daily profile in the
    site's local time, repeated every day (past the end the last day repeats)."""

    start: AwareDatetime
    #: where the figures come from (a tariff, a grid operator's data, a forecast), or
    #: ``estimate``: the figures are the operator's estimate
    source: Source

    @field_validator("start")
    @classmethod
    def _start_is_plausible(cls, v: datetime) -> datetime:
        if v < SERIES_EARLIEST:
            raise ValueError(f"must be on or after {SERIES_EARLIEST:%Y-%m-%d} UTC")
        if v > datetime.now(UTC) + timedelta(days=SERIES_MAX_DAYS_AHEAD):
            raise ValueError(
                f"must be at most {SERIES_MAX_DAYS_AHEAD} days ahead of now "
                "(until then the site would use its flat figures)"
            )
        return v

    @field_validator("source")
    @classmethod
    def _source_is_text(cls, v: str) -> str:
        v = _no_nul(v).strip()
        if not v:
            raise ValueError("must say where the figures come from, or be 'estimate'")
        return v


class PriceSeriesIn(_SeriesIn):
    #: electricity price, yuan per kWh of facility energy (as a site's flat
    #: ``priceYuanPerKwh``); below zero where a market clears there (the German day-ahead
    #: series of the package goes down to about -3.4 yuan/kWh in July 2023), and the cost
    #: model counts it as it is, so a run in those hours earns
    values: list[Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]] = Field(
        min_length=1, max_length=MAX_SERIES_HOURS
    )


class CarbonSeriesIn(_SeriesIn):
    #: grid carbon intensity, kg CO2 per kWh (as a site's flat ``carbonKgPerKwh``)
    values: list[Annotated[float, Field(ge=0, le=5, allow_inf_nan=False)]] = Field(
        min_length=1, max_length=MAX_SERIES_HOURS
    )


class SiteEnergyIn(WireIn):
    """The hourly series a site's scheduling uses (``PUT /v1/sites/{id}/energy``): each one
    replaces the site's flat figure; one left out goes back to it."""

    price_yuan_per_kwh: PriceSeriesIn | None = None
    carbon_kg_per_kwh: CarbonSeriesIn | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> SiteEnergyIn:
        if self.price_yuan_per_kwh is None and self.carbon_kg_per_kwh is None:
            raise ValueError(
                "give priceYuanPerKwh, carbonKgPerKwh or both (DELETE returns to flat figures)"
            )
        return self


class SeriesSummary(Wire):
    """An attached series without its values."""

    start: datetime
    #: the end of its last hour (``start + hours``); past it the series' last day repeats
    end: datetime
    hours: int
    source: str
    updated_at: datetime


class HourlySeries(SeriesSummary):
    values: list[float]


class SiteEnergy(Wire):
    """The series attached to a site; null: the site uses its flat figure (a scenario's site:
    the scenario's own series)."""

    site: str
    #: yuan/kWh
    price_yuan_per_kwh: HourlySeries | None = None
    #: kgCO2/kWh
    carbon_kg_per_kwh: HourlySeries | None = None


class SiteEnergySummary(Wire):
    """Which series a site has attached (`SiteEnergy` without the values)."""

    price_yuan_per_kwh: SeriesSummary | None = None
    carbon_kg_per_kwh: SeriesSummary | None = None


class SiteIn(WireIn):
    id: Name
    name: Annotated[str, Field(min_length=1, max_length=128)]
    hub: Name
    operator: Name = "partner"
    jurisdiction: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    region: Name = "partner"
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    pue: float = Field(ge=1.0, le=3.0)
    power_cap_mw: float = Field(default=10.0, gt=0, le=10_000)
    pools: list[PoolIn] = Field(min_length=1, max_length=32)
    #: a flat electricity price and grid carbon intensity until series are attached
    price_yuan_per_kwh: float = Field(ge=0, le=100)
    carbon_kg_per_kwh: float = Field(ge=0, le=5)

    @field_validator("name")
    @classmethod
    def _name_has_no_nul(cls, v: str) -> str:
        return _no_nul(v)


class SiteState(StrEnum):
    ACTIVE = "active"
    DRAINING = "draining"  # takes no new work; running work finishes


class Site(Wire):
    id: str
    name: str
    hub: str
    operator: str
    jurisdiction: str
    region: str
    lat: float
    lon: float
    pue: float
    state: SiteState
    #: ``down``: its cluster stopped answering (backends file's health settings); it takes no
    #: new work and its jobs were moved or held
    health: Literal["up", "down"] = "up"
    down_since: datetime | None = None
    accelerators: int
    pools: list[Pool]
    #: the hourly price and carbon series attached to the site, with their sources (null:
    #: its flat figures, or a scenario's site's own series)
    energy: SiteEnergySummary = Field(default_factory=lambda: SiteEnergySummary())


class Quota(WireIn):
    """Nominal accelerators per flavor: an accelerator type (``A100``), or with the service's
    flavor scope ``hub`` or ``site`` a type at a hub or site (``A100@Ningxia``)."""

    accelerators: dict[Flavor, Count] = Field(max_length=256)
    #: the most a queueing policy lets the tenant use beyond ``accelerators`` of a flavor, by
    #: borrowing others' idle quota (a flavor not named: unbounded)
    borrowing_limit: dict[Flavor, Count] = Field(default_factory=dict, max_length=256)
    #: the most of its quota of a flavor the tenant lends to others while it does not use it
    #: (at most its ``accelerators``; a flavor not named: all of it)
    lending_limit: dict[Flavor, Count] = Field(default_factory=dict, max_length=256)
    #: the cohort of the tenant's queue: it borrows from and lends to the queues of that
    #: cohort only (``network``: the built-in cohort). Left out of a PUT: the queue stays in
    #: its cohort; a GET gives it
    cohort: Name | None = None


class TenantIn(WireIn):
    id: Name
    name: Annotated[str, Field(min_length=1, max_length=128)]
    sector: Sector
    jurisdiction: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    weight: float = Field(default=1.0, gt=0, le=1000)
    #: the cohort of its queue (`Quota.cohort`); left out: the built-in cohort ``network``
    cohort: Name | None = None

    @field_validator("name")
    @classmethod
    def _name_has_no_nul(cls, v: str) -> str:
        return _no_nul(v)


class Tenant(Wire):
    id: str
    name: str
    sector: Sector
    jurisdiction: str
    weight: float
    quota: dict[str, int]
    #: the cohort of its queue (``network``: the built-in one)
    cohort: str = "network"


# -- cohorts ---------------------------------------------------------------------------


class CohortIn(WireIn):
    """A cohort (Kueue's Cohort): the queues in it lend each other their idle quota, and
    nothing to queues of other cohorts."""

    #: the cohort above it (``network`` or another defined cohort): its queues then share one
    #: pool with every queue under the same top cohort; left out: a top cohort of its own
    parent: Name | None = None
    description: Annotated[str, Field(max_length=1024)] = ""

    @field_validator("description")
    @classmethod
    def _description_has_no_nul(cls, v: str) -> str:
        return _no_nul(v)


class Cohort(Wire):
    name: str
    parent: str | None
    description: str
    #: ``network``: the cohort of every queue whose tenant names none (not deletable)
    built_in: bool = False
    #: the tenants whose queues are in it (not those of cohorts below it)
    tenants: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


# -- priority classes ------------------------------------------------------------------


class PreemptionPolicy(StrEnum):
    PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"
    NEVER = "Never"  # waits rather than evicting others; may still be evicted


class PriorityClassIn(WireIn):
    """A named priority (as Kubernetes' PriorityClass): jobs that name it get its value."""

    name: Name
    value: int = Field(ge=-1000, le=1000)
    preemption_policy: PreemptionPolicy = PreemptionPolicy.PREEMPT_LOWER_PRIORITY
    #: the class of every job that names neither a class nor a priority (at most one)
    global_default: bool = False
    description: Annotated[str, Field(max_length=1024)] = ""

    @field_validator("description")
    @classmethod
    def _description_has_no_nul(cls, v: str) -> str:
        return _no_nul(v)


class PriorityClass(Wire):
    name: str
    value: int
    preemption_policy: PreemptionPolicy
    global_default: bool
    description: str
    created_at: datetime


# -- policies and approvals ------------------------------------------------------------


class PolicySet(Wire):
    scheduling: str
    #: whether the scheduling policy enforces tenants' quotas and may preempt (a queueing
    #: policy: fifo, slurm, kueue, suanli-queue; docs/service.md, "Queueing")
    queueing: bool = False
    #: where quotas hold: network (per type), hub (``TYPE@HUB``) or site (``TYPE@SITE``)
    flavor_scope: Literal["network", "hub", "site"] = "network"
    approval_required_for: list[Classification]
    residency: str


class ApprovalPolicyIn(WireIn):
    approval_required_for: list[Classification] = Field(max_length=5)


class Approval(Wire):
    job_id: str
    tenant: str
    name: str
    classification: Classification
    data_site: str
    accelerators: float
    submitted_at: datetime


class ApprovalDecision(WireIn):
    decision: Literal["approve", "deny"]
    reason: Annotated[str, Field(min_length=1, max_length=1024)]

    @field_validator("reason")
    @classmethod
    def _reason_has_no_nul(cls, v: str) -> str:
        return _no_nul(v)


class DecisionResult(Wire):
    job_id: str
    decision: Literal["approve", "deny"]
    state: JobState


# -- audit ledger ----------------------------------------------------------------------


class AuditEntry(Wire):
    """One sealed event: leaf ``seq - 1`` of the ledger's Merkle tree (RFC 6962)."""

    seq: int
    at: datetime
    subject: str
    subject_id: str
    action: str
    from_state: str | None
    to_state: str | None
    reason: str
    actor: str
    #: SHA-256(0x00 || canonical JSON of the event), hex
    leaf_hash: str
    #: the tree head once this entry was added (tree size ``seq``), hex
    tree_root: str


class AuditHead(Wire):
    """A signed tree head: ``suanli.ledger.SignedHead(treeSize, root, time, signature)
    .verify(publicKey)`` accepts it (Ed25519 over the canonical JSON of format, rootHash,
    time and treeSize, as in the file ledger's heads)."""

    tree_size: int
    root: str
    #: when the head was signed, UTC (ISO 8601)
    time: str
    #: ``suanli-ledger-head/1``
    format: str
    #: Ed25519 signature, hex
    signature: str
    #: the service's public key, hex (publish it out of band for a verifier who must not
    #: trust this answer)
    public_key: str
    #: the id of the key in the key history (``GET /v1/audit/keys``); not signed: a head is
    #: checked against the key so named, valid at its tree size (`suanli.ledger.verify_head`)
    key_id: str


class LedgerKeyEndorsement(Wire):
    """The hand-over to a key: Ed25519 signatures by the previous key (``signature``) and by
    the new key (``possession``) over the canonical JSON of format, newPublicKey,
    previousKeyId, rootHash, time and treeSize (`suanli.ledger.keyring.rotation_message`)."""

    #: ``suanli-ledger-key-rotation/1``
    format: str
    previous_key_id: str
    #: the tree size of the rotation: the previous key signs heads up to it, this key from it
    tree_size: int
    #: the Merkle root at that size, hex
    root_hash: str
    time: str
    signature: str
    possession: str


class LedgerKey(Wire):
    """One key of the history of the keys that sign tree heads."""

    #: 32 hex digits of SHA-256 of the public key
    key_id: str
    public_key: str
    #: the first tree size it signs
    valid_from: int
    #: the last tree size it signs (the next key's validFrom); null for the current key
    valid_until: int | None
    #: null for the first key (pin it out of band)
    endorsement: LedgerKeyEndorsement | None


class LedgerKeys(Wire):
    """The key history, oldest first: `suanli.ledger.KeyHistory.from_json` reads it."""

    #: ``suanli-ledger-keys/1``
    format: str
    #: the id of the key that signs heads now
    current: str
    keys: list[LedgerKey]


class LedgerKeyRotation(WireIn):
    #: why (a schedule, a suspected compromise); sealed into the ledger with the rotation
    reason: Annotated[str, Field(min_length=1, max_length=1024)]

    @field_validator("reason")
    @classmethod
    def _reason_has_no_nul(cls, v: str) -> str:
        return _no_nul(v)


class AuditEntries(Wire):
    items: list[AuditEntry]
    next: int | None = None


class AuditProof(Wire):
    """An inclusion proof: ``suanli.ledger.merkle.verify_inclusion(leaf_index, tree_size,
    leaf_hash, path, root)`` accepts it (RFC 9162 section 2.1.3.2)."""

    entry: AuditEntry
    leaf_index: int
    tree_size: int
    root: str
    path: list[str]


class ConsistencyProof(Wire):
    """The tree of ``new_size`` extends the one of ``old_size`` (RFC 9162 section 2.1.4.2)."""

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str]


# -- health ----------------------------------------------------------------------------


class Health(Wire):
    status: Literal["ok"] = "ok"


class Readiness(Wire):
    status: Literal["ready", "not-ready"]
    database: bool
    leader: bool
    replica: str


# -- dashboard views (suanli.service.dashboard) ------------------------------------------


class Me(Wire):
    """Who the token is: its role and, for a tenant, which."""

    role: Role
    tenant: str | None


class SiteNow(Wire):
    """A site as the network map shows it: capacity, load, price and carbon this hour."""

    id: str
    name: str
    hub: str
    jurisdiction: str
    lat: float
    lon: float
    state: SiteState
    accelerators: int
    #: accelerators held by running jobs (and admitted jobs whose start has come)
    in_use: float
    utilization: float
    #: jobs placed here that have not started yet
    planned: int
    price_yuan_per_kwh: float
    carbon_kg_per_kwh: float


class LinkNow(Wire):
    src: str
    dst: str
    latency_ms: float
    bandwidth_gbps: float


class NetworkNow(Wire):
    #: scheduler hours since the service's epoch
    hour: float
    at: datetime
    sites: list[SiteNow]
    links: list[LinkNow]


class PoolUse(Wire):
    index: int
    accelerator: str
    accelerators: int
    in_use: float


class SiteSeries(Wire):
    """Hourly curves of one site around now: price, carbon, the load on them, utilization and
    fragmentation (the share of free accelerators not on a wholly free node, best case)."""

    site: str
    now_hour: float
    hours: list[float]
    price_yuan_per_kwh: list[float]
    carbon_kg_per_kwh: list[float]
    load: list[float]
    utilization: list[float]
    fragmentation: list[float]
    pools: list[PoolUse]
    #: where the price and carbon figures come from: an attached series' source, or what
    #: the site falls back on (its flat figure, or the scenario's series)
    price_source: str = ""
    carbon_source: str = ""


class TenantUse(Wire):
    """A tenant's fair share, quota and what it holds and waits for now."""

    id: str
    name: str
    sector: Sector
    weight: float
    #: weight / sum of all weights
    share: float
    quota: dict[str, int]
    in_use: dict[str, float]
    #: accelerators held beyond the quota of their flavor (type, or type at a hub or site in
    #: those flavor scopes): borrowed from idle quota
    borrowing: float
    states: dict[str, int]
    #: the most it may borrow beyond its quota, per flavor (a flavor not named: unbounded)
    borrowing_limit: dict[str, int] = Field(default_factory=dict)
    #: the most of its idle quota it lends, per flavor (a flavor not named: all of it)
    lending_limit: dict[str, int] = Field(default_factory=dict)
    #: the cohort of its queue: it borrows from and lends to that cohort's queues only
    cohort: str = "network"


class QueuePreemption(Wire):
    """A job stopped and queued again, newest first in `QueueOverview`."""

    at: datetime
    job_id: str
    job_name: str
    tenant: str
    #: why: the queueing policy's reason (naming the job it made room for) or the loop's
    reason: str
    #: accelerator-hours of work lost since the job's last checkpoint; null where no policy
    #: measured it (a run the backend lost, a site that went down, an older record)
    lost_gpu_h: float | None


class QueueOverview(Wire):
    states: dict[str, int]
    tenants: list[TenantUse]
    #: the scheduling policy the service runs (``suanli serve --policy``)
    policy: str = ""
    #: whether it is a multi-tenant queueing policy (it enforces quotas and may preempt)
    queueing: bool = False
    #: where quotas hold: ``network``, ``hub`` or ``site`` (``--flavor-scope``)
    flavor_scope: str = "network"
    priority_classes: list[PriorityClass] = Field(default_factory=list)
    #: the cohorts, the built-in ``network`` first, with the tenants whose queues are in each
    #: (a tenant: only its own queue's cohort, with itself)
    cohorts: list[Cohort] = Field(default_factory=list)
    #: the newest preemptions (a tenant: of its own jobs), at most
    #: `suanli.service.dashboard.PREEMPTIONS_SHOWN`
    preemptions: list[QueuePreemption] = Field(default_factory=list)
    #: how many preemptions there are in all (more than listed: the oldest are left out)
    preemptions_total: int = 0

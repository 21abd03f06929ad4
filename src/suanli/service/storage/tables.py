"""The control plane's tables (SQLAlchemy 2). The schema itself is made by the migrations.

Times are Unix seconds (floats) for wall-clock instants and scheduler hours (``*_h``) for the
core's time axis (`suanli.service.clock`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Service-wide settings: the epoch, the approval policy, the topology version."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SiteRow(Base):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    hub: Mapped[str] = mapped_column(String(64))
    operator: Mapped[str] = mapped_column(String(64))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    pue: Mapped[float] = mapped_column(Float)
    power_cap_mw: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    #: flat price and carbon of a registered site; null for the scenario's own sites
    price: Mapped[float | None] = mapped_column(Float, nullable=True)
    carbon: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class SiteSeriesRow(Base):
    """An hourly series attached to a site (``PUT /v1/sites/{id}/energy``): ``kind`` ``price``
    (yuan/kWh) or ``carbon`` (kgCO2/kWh); ``hourly[i]`` holds for the UTC hour that begins
    ``start + i * 3600`` (Unix seconds); ``source``: where the figures come from, or
    ``estimate``. ``hours`` is ``len(hourly)``, so a site's summary reads no values."""

    __tablename__ = "site_series"
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    start: Mapped[float] = mapped_column(Float)
    hours: Mapped[int] = mapped_column(Integer)
    hourly: Mapped[list[float]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float)


class PoolRow(Base):
    __tablename__ = "pools"
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    accelerator: Mapped[str] = mapped_column(String(64))
    nodes: Mapped[int] = mapped_column(Integer)
    per_node: Mapped[int] = mapped_column(Integer)


class TenantRow(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    sector: Mapped[str] = mapped_column(String(32))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    weight: Mapped[float] = mapped_column(Float)
    quota: Mapped[dict[str, int]] = mapped_column(JSON)
    #: ``{"borrowing": {flavor: n}, "lending": {flavor: n}}`` (null or a missing flavor:
    #: unbounded); the queueing policies' borrowing and lending limits
    limits: Mapped[dict[str, dict[str, int]] | None] = mapped_column(JSON, nullable=True)
    #: the cohort of the tenant's queue (`CohortRow`); null: the built-in cohort ``network``
    cohort: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CohortRow(Base):
    """A cohort of the queueing policies (Kueue's Cohort): its queues lend each other their
    idle quota, and lend nothing to queues of other cohorts. ``parent`` puts it under another
    cohort (null: a top cohort); the built-in ``network`` is not stored."""

    __tablename__ = "cohorts"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class PriorityClassRow(Base):
    """A named priority for jobs (Kubernetes' PriorityClass); at most one is the default."""

    __tablename__ = "priority_classes"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
    #: ``PreemptLowerPriority`` or ``Never``
    preemption_policy: Mapped[str] = mapped_column(String(32))
    global_default: Mapped[bool] = mapped_column(Boolean)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index(
            "uq_priority_classes_one_default",
            "global_default",
            unique=True,
            sqlite_where=text("global_default"),
            postgresql_where=text("global_default"),
        ),
    )


class TokenRow(Base):
    """An API token: only its SHA-256 is stored."""

    __tablename__ = "tokens"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str | None] = mapped_column(String(64), nullable=True)
    label: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)


class JobRow(Base):
    __tablename__ = "jobs"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    tenant: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(24))
    #: the submitted document (metadata and spec), as validated
    doc: Mapped[dict[str, Any]] = mapped_column(JSON)
    arrival_h: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    site: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pool: Mapped[int | None] = mapped_column(Integer, nullable=True)
    accelerator: Mapped[str | None] = mapped_column(String(64), nullable=True)
    start_h: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_h: Mapped[float | None] = mapped_column(Float, nullable=True)
    cost_yuan: Mapped[float | None] = mapped_column(Float, nullable=True)
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    handle: Mapped[str | None] = mapped_column(String(256), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_jobs_tenant_seq", "tenant", "seq"),
        Index("ix_jobs_state", "state"),
    )


class IdempotencyRow(Base):
    __tablename__ = "idempotency"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str] = mapped_column(String(32))


class EventRow(Base):
    """Every state change and administrative act; sealed into the audit ledger by the leader."""

    __tablename__ = "events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    ledger_seq: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_events_subject", "subject", "subject_id"),)


class PreemptionRow(Base):
    """A job stopped and queued again (its events say so too), with the work it lost."""

    __tablename__ = "preemptions"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    job_id: Mapped[str] = mapped_column(String(32))
    #: why it was stopped: the queueing policy's reason (the job it made room for) or the loop's
    reason: Mapped[str] = mapped_column(Text)
    #: accelerator-hours of work lost since its last checkpoint, as the queueing policy
    #: measured it; null where none did (a lost run, a site down, a launch that failed)
    lost_gpu_h: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: the job's tenant, copied from it so that a tenant's newest preemptions are one range of
    #: ``ix_preemptions_tenant_seq`` (the queue view's query); null for a job not stored
    tenant: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_preemptions_job", "job_id"),
        Index("ix_preemptions_tenant_seq", "tenant", "seq"),
    )


class LeaseRow(Base):
    """A leader lease: one holder at a time, until ``expires_at`` (Unix seconds)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    term: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)

"""Cohorts of tenants' queues, and the tenant of each preemption.

``cohorts``: the cohorts an operator defines (``PUT /v1/cohorts/{name}``), each with an
optional parent; ``tenants.cohort`` names the cohort of a tenant's queue (null: the built-in
cohort ``network``, where every queue was before this revision, so nothing moves).

``preemptions.tenant``: the preempted job's tenant, copied from ``jobs`` (null where the job is
not stored), and the index ``ix_preemptions_tenant_seq`` on (tenant, seq): the queue view's
newest preemptions of one tenant (``/v1/queues``) filtered on ``jobs.tenant`` through the join,
so it read every job of the tenant (``ix_jobs_tenant_seq``) and sorted what matched; now it
reads the tenant's newest preemptions off the index, in order, and counts them from it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cohorts",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("parent", sa.String(64), nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.add_column("tenants", sa.Column("cohort", sa.String(64), nullable=True))
    op.add_column("preemptions", sa.Column("tenant", sa.String(64), nullable=True))
    op.execute(
        "UPDATE preemptions SET tenant = "
        "(SELECT jobs.tenant FROM jobs WHERE jobs.id = preemptions.job_id)"
    )
    op.create_index("ix_preemptions_tenant_seq", "preemptions", ["tenant", "seq"])


def downgrade() -> None:
    op.drop_index("ix_preemptions_tenant_seq", table_name="preemptions")
    with op.batch_alter_table("preemptions") as batch:  # SQLite rebuilds the table
        batch.drop_column("tenant")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("cohort")
    op.drop_table("cohorts")

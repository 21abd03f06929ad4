"""Priority classes (the queueing policies' named priorities, Kubernetes' PriorityClass), and
tenants' borrowing and lending limits (``tenants.limits``: ``{"borrowing": {flavor: n},
"lending": {flavor: n}}``; null: none), and the queueing version (meta ``queueing``, bumped by
every change of tenants, quotas and classes; made here, so that replicas only update it).

At most one class is the global default: a partial unique index on ``global_default`` where it
is true (SQLite and PostgreSQL both have them) makes a second one a conflict, whatever the
races between replicas.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "priority_classes",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("preemption_policy", sa.String(32), nullable=False),
        sa.Column("global_default", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.add_column("tenants", sa.Column("limits", sa.JSON, nullable=True))
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.bulk_insert(meta, [{"key": "queueing", "value": "0"}])
    op.create_index(
        "uq_priority_classes_one_default",
        "priority_classes",
        ["global_default"],
        unique=True,
        sqlite_where=sa.text("global_default"),
        postgresql_where=sa.text("global_default"),
    )


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'queueing'")
    op.drop_index("uq_priority_classes_one_default", table_name="priority_classes")
    op.drop_table("priority_classes")
    with op.batch_alter_table("tenants") as batch:  # SQLite rebuilds the table
        batch.drop_column("limits")

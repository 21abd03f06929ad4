"""Preemptions: one row per job stopped and queued again, with the work it lost.

The events record every preemption (``to_state = 'preempted'``, the reason the policy's or
the loop's); this table adds what the queueing policy measured when it stopped the run: the
accelerator-hours lost since the job's last checkpoint (``lost_gpu_h``; null where no policy
measured it: a run the backend lost, a site that went down, a preemption recorded before this
revision). Earlier preemptions are copied from the events, with no lost work.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "preemptions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("lost_gpu_h", sa.Float, nullable=True),
    )
    op.create_index("ix_preemptions_job", "preemptions", ["job_id"])
    op.execute(
        "INSERT INTO preemptions (at, job_id, reason) "
        "SELECT at, subject_id, reason FROM events "
        "WHERE subject = 'job' AND to_state = 'preempted' ORDER BY seq"
    )


def downgrade() -> None:
    op.drop_index("ix_preemptions_job", table_name="preemptions")
    op.drop_table("preemptions")

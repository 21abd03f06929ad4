"""Hourly electricity price and carbon-intensity series attached to sites.

``site_series``: at most one row per site and kind (``price``: yuan/kWh, ``carbon``:
kgCO2/kWh), with the series' first UTC hour (``start``, Unix seconds), its hourly values as one
JSON array (``hourly``), their number (``hours``) and their ``source``. A site without a row
keeps its flat ``sites.price``/``sites.carbon`` (or, for a scenario's site, the scenario's
series), as every site did before this revision, so nothing changes for an existing database.

A table of its own, not a JSON column of ``sites``: ``sites`` is read on every sweep of the
scheduling loop and every ``GET /v1/sites``, and up to 8,784 values per series (about 100 KB of
JSON) would ride along each time; the series are read only when the scheduler is rebuilt, by
the dashboard, and by ``GET /v1/sites/{id}/energy``. One JSON array per series, not one row per
hour: a series is written and read whole, never an hour at a time.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_series",
        sa.Column("site_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("hours", sa.Integer, nullable=False),
        sa.Column("hourly", sa.JSON, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("site_series")

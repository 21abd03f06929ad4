"""Alembic environment: runs on the connection `suanli.service.storage.migrate` passes in."""

from __future__ import annotations

from alembic import context

from suanli.service.storage.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()

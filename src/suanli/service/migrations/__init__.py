"""Alembic migrations of the control plane's database (run by `suanli.service.storage.migrate`)."""

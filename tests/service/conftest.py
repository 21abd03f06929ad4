"""Fixtures of the control plane's tests (helpers in serving.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serving import Running, fresh_postgres_db, running_service


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'suanli.db'}"
    return fresh_postgres_db()


@pytest.fixture
def postgres_url() -> str:
    """A fresh PostgreSQL database, for what only a server with concurrent writers shows."""
    return fresh_postgres_db()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'suanli.db'}"


@pytest.fixture
def svc(db_url: str) -> Iterator[Running]:
    with running_service(db_url) as r:
        yield r

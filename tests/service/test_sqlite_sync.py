"""SQLite syncs its log at every commit unless told otherwise, so a 201 survives a power loss."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from suanli.errors import InputError
from suanli.service.storage import make_engine


@pytest.mark.parametrize(
    ("setting", "level"),
    [
        pytest.param(None, 2, id="default-full"),
        pytest.param("normal", 1, id="normal-on-request"),
        pytest.param("FULL", 2, id="full-on-request"),
    ],
)
def test_sqlite_connections_sync_as_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, level: int
):
    if setting is None:
        monkeypatch.delenv("SUANLI_SQLITE_SYNC", raising=False)
    else:
        monkeypatch.setenv("SUANLI_SQLITE_SYNC", setting)
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == level
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_an_unknown_sync_level_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SUANLI_SQLITE_SYNC", "OFF")
    with pytest.raises(InputError, match="SUANLI_SQLITE_SYNC: 'OFF' is not FULL or NORMAL"):
        make_engine(f"sqlite:///{tmp_path / 's.db'}")

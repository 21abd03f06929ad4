"""Engines and migrations: embedded SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text

from suanli.errors import InputError
from suanli.service.storage.sqlite import JOURNAL_SIZE_LIMIT, attach_gate

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def default_db_url() -> str:
    """``$SUANLI_DB``, else a SQLite file under ``$XDG_DATA_HOME/suanli`` (~/.local/share)."""
    if os.environ.get("SUANLI_DB"):
        return os.environ["SUANLI_DB"]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'suanli' / 'suanli.db'}"


def normalize_url(url: str) -> str:
    """Accept a bare path (SQLite) and ``postgresql://`` (driven by psycopg 3)."""
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return normalize_url(url).startswith("sqlite")


def make_engine(url: str, *, autocheckpoint: bool = True) -> Engine:
    """An engine for ``url``; SQLite gets WAL, FULL sync and a generous busy timeout.

    WAL with ``synchronous=FULL`` syncs the log at every commit, so a committed transaction
    survives a power loss as well as a crash of the process; the submission writer commits
    many jobs at once, so that is one sync per batch, not per job. ``SUANLI_SQLITE_SYNC=NORMAL``
    syncs only at checkpoints: cheaper, and it still survives SIGKILL, but a power loss may
    drop the last commits, 201s included (docs/service.md).

    A SQLite file gets a `WriteGate` (`suanli.service.storage.sqlite.write_transaction`).
    ``autocheckpoint=False`` (the service, which runs a `Checkpointer`) keeps checkpoints out
    of every commit.
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        sync = os.environ.get("SUANLI_SQLITE_SYNC", "FULL").upper()
        if sync not in ("FULL", "NORMAL"):
            raise InputError("SUANLI_SQLITE_SYNC", f"{sync!r} is not FULL or NORMAL")
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8
        )
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            attach_gate(engine, Path(path))
        checkpoint_pages = 1000 if autocheckpoint else 0  # 1000: SQLite's default

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute(f"PRAGMA wal_autocheckpoint={checkpoint_pages}")
            cur.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            cur.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (replicas serialize on an advisory lock)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7152026)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

"""Fixtures of the browser tests: one `suanli serve` and one headless Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browsing import Dashboard, Served, new_browser
from serving import ServerProcess, prepare_db

#: wall seconds per run-time hour of the fake backend: a 2-hour job runs for about 8 s
SECONDS_PER_HOUR = 4.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`suanli serve` (its own process, scheduler process, fake backend) on SQLite."""
    from suanli.service.storage import Store, make_engine

    db = f"sqlite:///{tmp_path_factory.mktemp('web') / 'suanli.db'}"
    tokens = prepare_db(db)
    engine = make_engine(db)
    tokens["other"] = Store(engine).create_token("tenant", "health-hospitals")
    engine.dispose()
    server = ServerProcess(db, "--fake-seconds-per-hour", str(SECONDS_PER_HOUR))
    try:
        yield Served(server.url, tokens)
    finally:
        server.stop()


@pytest.fixture
def queueing_served(tmp_path: Path) -> Iterator[Served]:
    """`suanli serve --policy kueue` on its own SQLite file: quotas hold and a reclaim
    preempts (a job runs an hour per run-time hour, so none ends during a test)."""
    db = f"sqlite:///{tmp_path / 'suanli.db'}"
    tokens = prepare_db(db)
    server = ServerProcess(db, "--policy", "kueue", "--fake-seconds-per-hour", "3600")
    try:
        yield Served(server.url, tokens)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dashboard(served: Served) -> Iterator[Dashboard]:
    driver = new_browser()
    try:
        yield Dashboard(driver, served.url)
    finally:
        driver.quit()


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    """A real report of `suanli simulate` (half a day, one policy, no bound)."""
    from suanli.report.html import write_report
    from suanli.simulation import simulate

    result = simulate(days=0.5, policies=["nearest"], bound=False)
    return write_report(result, tmp_path / "suanli-report.html")

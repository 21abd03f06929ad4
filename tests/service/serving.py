"""Helpers of the control plane's tests: databases (SQLite and a real PostgreSQL), services
on a loopback port, tokens, job documents.

PostgreSQL comes from ``SUANLI_TEST_POSTGRES_URL`` (``source scripts/services.sh``). Without it
the PostgreSQL variants are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from suanli.service import Service, ServiceConfig, create_app
from suanli.service.backends import Backend

PG_ENV = "SUANLI_TEST_POSTGRES_URL"


def postgres_admin_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_ENV} is not set: run `source scripts/services.sh` first")
        pytest.skip(f"no PostgreSQL: {PG_ENV} is not set (source scripts/services.sh)")
    return url


def fresh_postgres_db() -> str:
    """A new, empty database on the test server; its URL."""
    admin = postgres_admin_url()
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return admin.rsplit("/", 1)[0] + "/" + name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    service: Service
    url: str
    tokens: dict[str, str]

    def client(self, who: str = "operator") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


FAST = ServiceConfig(backend="fake", policy="nearest", tick_s=0.05, lease_ttl_s=2.0)


@contextmanager
def running_service(
    db_url: str, runs_on: Backend | None = None, **changes: Any
) -> Iterator[Running]:
    """A service on a loopback port (uvicorn in a thread), with one token per role; its jobs
    run on ``runs_on`` if given, else on the backend the config names."""
    config = replace(FAST, db_url=db_url, **changes)
    service = Service(config, runs_on)
    tokens = {
        "operator": service.store.create_token("operator", None),
        "regulator": service.store.create_token("regulator", None),
        "tenant": service.store.create_token("tenant", "fin-bank"),
        "other": service.store.create_token("tenant", "health-hospitals"),
    }
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service), host="127.0.0.1", port=port, log_level="error", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Running(service, f"http://127.0.0.1:{port}", tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


# Two days ahead of the test run, to the hour: a fixed date would pass one day and turn every
# job into an overdue one that starts at once (which is what broke this suite on 2026-12-01).
DEFAULT_DEADLINE = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:00:00Z")


def job_doc(**spec: Any) -> dict[str, Any]:
    """The issue's example job, with changes to its spec (and ``name``/``tenant``)."""
    name = spec.pop("name", "resnet-finetune")
    tenant = spec.pop("tenant", None)
    doc: dict[str, Any] = {
        "apiVersion": "suanli/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "kind": "finetune",
            "accelerators": {"count": 8, "types": ["A100", "Ascend910B"]},
            "durationHours": 6,
            "command": ["python", "train.py"],
            "data": {"site": "guian", "sizeGB": 500, "classification": "general"},
            "deadline": DEFAULT_DEADLINE,
        },
    }
    if tenant is not None:
        doc["metadata"]["tenant"] = tenant
    doc["spec"].update(spec)
    return doc


def submit_small_jobs(c: httpx.Client, n: int) -> list[str]:
    """``n`` one-A800, one-hour jobs submitted (their ids): a tick admits them all at once."""
    doc = job_doc(accelerators={"count": 1, "types": ["A800"]}, durationHours=1)
    return [c.post("/v1/jobs", json=doc).json()["id"] for _ in range(n)]


def wait_for(predicate: Any, timeout: float = 15.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(every)


def prepare_db(url: str) -> dict[str, str]:
    """Migrate and seed a database; a token per role."""
    from suanli.scenario import load_scenario
    from suanli.service.storage import Store, make_engine, migrate

    engine = make_engine(url)
    try:
        migrate(engine)
        store = Store(engine)
        store.seed(load_scenario("china-edwc"))
        return {
            "operator": store.create_token("operator", None),
            "tenant": store.create_token("tenant", "fin-bank"),
            "regulator": store.create_token("regulator", None),
        }
    finally:
        engine.dispose()


class ServerProcess:
    """`suanli serve` in a child process, to be killed for real."""

    def __init__(self, db_url: str, *extra: str) -> None:
        import subprocess
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-c",
            "from suanli.cli import main; main()",
            "serve",
            "--port",
            str(self.port),
            "--db",
            db_url,
            "--backend",
            "fake",
            "--policy",
            "nearest",
            "--tick",
            "0.05",
            *extra,
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"suanli serve did not start: {err[-2000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to the whole replica: its API process and its scheduler process."""
        import os
        import signal

        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()

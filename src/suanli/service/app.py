"""The control plane's application: a `Service` (storage, writer, scheduling loop, backend)
behind a FastAPI app whose routes live in `suanli.service.routes`.

    >>> service = Service(ServiceConfig(db_url="sqlite:///suanli.db", backend="fake"))
    >>> app = create_app(service)          # serve it with uvicorn, or test it in process

Errors are RFC 9457 problem documents (``application/problem+json``) naming the field.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from suanli.core.policies import is_queueing, make_policy
from suanli.core.queueing import QueueingConfig
from suanli.core.queueing.quota import SCOPES
from suanli.errors import InputError, SuanliError
from suanli.ledger.keyring import KeyEntry, KeyHistory, key_id
from suanli.ledger.keys import SigningKey
from suanli.ledger.merkle import MerkleTree
from suanli.model import Scenario
from suanli.scenario import load_scenario
from suanli.service import fastpath
from suanli.service.auth import Authenticator, AuthError
from suanli.service.backends import Backend, FakeBackend, LocalBackend
from suanli.service.backends.registry import (
    BackendsFile,
    SiteBackends,
    build_backend,
    load_backends,
)
from suanli.service.failover import failover_state
from suanli.service.leader import LeaderLease
from suanli.service.loop import SchedulingLoop
from suanli.service.metrics import ServiceMetrics
from suanli.service.schemas import FieldProblem, Problem
from suanli.service.storage import Store, default_db_url, make_engine, migrate, normalize_url
from suanli.service.storage.repo import LEDGER_KEY, RotationConflict
from suanli.service.storage.sqlite import Checkpointer
from suanli.service.topology import build_queueing, build_scenario
from suanli.service.writer import IdempotencyConflict, SubmissionWriter

log = logging.getLogger("suanli.service")

#: bodies larger than this are refused with 413
MAX_BODY_BYTES = 1 << 20
#: seconds a replica trusts its cached sites, tenants and approval policy
CACHE_S = 1.0
PROBLEM = "application/problem+json"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    db_url: str = ""
    scenario: str = "china-edwc"
    #: ``local`` (run commands as processes) or ``fake`` (tests and benchmarks)
    backend: str = "local"
    #: where the local backend keeps each job's directory (default: next to a SQLite file)
    workdir: Path | None = None
    policy: str = "suanli"
    lease_ttl_s: float = 5.0
    tick_s: float = 0.1
    replica: str = ""
    #: where the scheduling loop runs: ``thread`` (in this process), ``process`` (a child
    #: process at a lower CPU priority, so it never holds the API's interpreter lock), ``off``
    scheduler: str = "thread"
    #: the niceness the scheduler process adds to its own (``scheduler="process"``)
    scheduler_nice: int = 5
    #: the fake backend's wall seconds per run-time hour
    fake_seconds_per_hour: float = 0.0
    #: a ``kind: Backends`` file mapping sites to Slurm and Ray clusters (replaces ``backend``)
    backends: Path | None = None
    #: the Ed25519 key file that signs tree heads; None: the key kept in the database
    ledger_key: Path | None = None
    #: where a tenant's quota holds (``network``, ``hub`` or ``site``): its keys are ``TYPE``,
    #: ``TYPE@HUB`` or ``TYPE@SITE`` (`suanli.core.queueing.quota`, docs/service.md)
    flavor_scope: str = "network"


#: the replica name of a replica's scheduler process (``--scheduler process``)
SCHEDULER_SUFFIX = "/scheduler"


def _not_current(key: SigningKey, history: KeyHistory) -> str | None:
    """Why ``key`` may not sign heads now (None: it is the history's current key)."""
    cur = history.current
    if key.public_key == cur.public_key:
        return None
    kid = key_id(key.public_key)
    i = history.index(kid)
    if i is None:
        return (
            f"its key {kid} is not in the ledger's key history (current key: {cur.key_id}); "
            "a new key takes over by a rotation: `suanli admin rotate-ledger-key --new-key FILE`"
        )
    return (
        f"its key {kid} was retired at tree size {history.valid_until(i)} (rotated to key "
        f"{history.keys[i + 1].key_id}; current key: {cur.key_id})"
    )


class ApiProblem(SuanliError):
    """An error the API answers with a problem document."""

    def __init__(self, status: int, title: str, detail: str = "", field: str | None = None):
        self.status, self.title, self.detail = status, title, detail
        self.errors = [FieldProblem(field=field, message=detail)] if field else []
        super().__init__(f"{status} {title}: {detail}")


class Service:
    """Everything one replica runs."""

    def __init__(self, config: ServiceConfig, backend: Backend | None = None) -> None:
        self.config = config
        if not 0 <= config.scheduler_nice <= 19:
            raise SuanliError(f"scheduler_nice {config.scheduler_nice} is not in 0..19")
        make_policy(config.policy)  # an unknown name is refused before anything is written
        if config.flavor_scope not in SCOPES:
            raise InputError(
                "--flavor-scope",
                f"unknown scope {config.flavor_scope!r}",
                f"choose from {', '.join(SCOPES)}",
            )
        # a bad backends file is refused before anything is written
        self._backends_file = load_backends(config.backends) if config.backends else None
        file_key = SigningKey.load(config.ledger_key) if config.ledger_key is not None else None
        self.db_url = normalize_url(config.db_url or default_db_url())
        # checkpoints of a SQLite log run in `Checkpointer`, off every commit (`start`)
        self.engine = make_engine(self.db_url, autocheckpoint=False)
        self.checkpointer: Checkpointer | None = None
        migrate(self.engine)
        self.scenario: Scenario = load_scenario(config.scenario)
        self.store = Store(self.engine)
        self.store.seed(self.scenario)
        if is_queueing(config.policy):
            for line in self.queueing_config()[1]:  # quotas of another flavor scope
                log.warning("%s", line)
        # replicas of one database share its key; an operator who keeps the key out of the
        # database passes the same file to every replica. The scheduler process of a replica
        # (`_start_child`) signs no heads: a rotation to a new key file waiting for the
        # replica's restart must not keep its scheduler from starting again.
        self._file_key = file_key
        if not config.replica.endswith(SCHEDULER_SUFFIX):
            self._start_key(file_key)
        self.auth = Authenticator(self.store)
        self.metrics = ServiceMetrics()
        self.backend = backend or self._backend()
        self.replica = config.replica or f"{socket.gethostname()}:{os.getpid()}"
        self.lease = LeaderLease(self.engine, self.replica, config.lease_ttl_s)
        self.loop = SchedulingLoop(
            self.store,
            self.scenario,
            self.backend,
            self.lease,
            self.metrics,
            policy=config.policy,
            tick_s=config.tick_s,
            flavor_scope=config.flavor_scope,
        )
        self.writer: SubmissionWriter | None = None
        self._cache: dict[str, tuple[float, Any]] = {}
        self._child: multiprocessing.process.BaseProcess | None = None
        self._metrics_dir: str | None = None
        self.metrics_file: Path | None = None
        self._ledger = MerkleTree()
        self._ledger_lock = threading.Lock()
        self._closing = threading.Event()

    def _start_key(self, file_key: SigningKey | None) -> None:
        """The key this replica signs tree heads with: the file's, else the database's; it
        must be the key history's current key (a history of it alone on a new database)."""
        history = self.store.key_history()
        if file_key is not None:
            key = file_key
        elif history is None or self.store.meta(LEDGER_KEY) is not None:
            key = self.store.signing_key()
        else:
            raise InputError(
                "--ledger-key",
                f"the ledger's current key {history.current.key_id} is kept in a file (the "
                "database holds none since it was rotated to one): pass that file",
            )
        history = self.store.key_history(first=key.public_key)
        assert history is not None
        problem = _not_current(key, history)
        if problem:
            where = f"--ledger-key {self.config.ledger_key}" if file_key else "the database's key"
            raise InputError(where, problem)

    def head_signer(self) -> tuple[SigningKey, KeyEntry]:
        """The key that signs a tree head now and its entry in the key history, read afresh
        (another replica, or `suanli admin rotate-ledger-key`, may have rotated it)."""
        db_key, history = self.store.ledger_signer()
        key = self._file_key if self._file_key is not None else db_key
        if history is None:  # written at start: the database was replaced under the service
            raise ApiProblem(503, "No key history", "the database holds no key history: restart")
        if key is None:
            raise ApiProblem(
                503,
                "Ledger key rotated",
                "the database holds no signing key since the ledger key was rotated to a key "
                "file: restart this replica with --ledger-key NEW_KEY_FILE",
            )
        problem = _not_current(key, history)
        if problem:
            raise ApiProblem(
                503, "Ledger key rotated", f"{problem}: restart this replica with the new key"
            )
        return key, history.current

    def rotate_ledger_key(self, why: str, actor: str) -> KeyHistory:
        """Rotate the key kept in the database to a new one (`Store.rotate_ledger_key`)."""
        if self.config.ledger_key is not None:
            raise ApiProblem(
                409,
                "Conflict",
                f"this service signs with the key file --ledger-key {self.config.ledger_key}, "
                "which it does not write: make a new key file, run `suanli admin "
                "rotate-ledger-key --db URL --old-key OLD_FILE --new-key NEW_FILE`, then "
                "restart every replica with --ledger-key NEW_FILE",
            )
        old, _ = self.head_signer()
        try:
            history = self.store.rotate_ledger_key(old, SigningKey.generate(), True, why, actor)
        except RotationConflict as e:
            raise ApiProblem(409, "Conflict", str(e)) from None
        return history

    def _backend(self) -> Backend:
        if self.config.backends is not None and self._backends_file is not None:
            return self._site_backends(self.config.backends, self._backends_file)
        if self.config.backend == "fake":
            return FakeBackend(self.config.fake_seconds_per_hour)
        if self.config.backend != "local":
            raise SuanliError(f"unknown backend {self.config.backend!r}: choose local or fake")
        return LocalBackend(self._workdir())

    def _workdir(self) -> Path:
        if self.config.workdir is not None:
            return self.config.workdir
        if self.db_url.startswith("sqlite:///"):
            return Path(self.db_url.removeprefix("sqlite:///")).parent / "runs"
        return Path.home() / ".local" / "share" / "suanli" / "runs"

    def _site_backends(self, path: Path, config: BackendsFile) -> SiteBackends:
        """The registry of a ``kind: Backends`` file; its sites must be the service's."""
        known = {r["id"] for r in self.store.sites()}
        for site in config.sites:
            if site not in known:
                raise InputError(
                    f"{path}: sites.{site}",
                    "no such site in the service",
                    f"known sites: {', '.join(sorted(known))}",
                )
        default: Backend | None = None
        if config.default == "local":
            default = LocalBackend(self._workdir())
        elif config.default == "fake":
            default = FakeBackend(self.config.fake_seconds_per_hour)
        by_site = {site: build_backend(site, spec) for site, spec in config.sites.items()}
        backends = SiteBackends(by_site, default, config.health)
        backends.accelerators = {
            site: frozenset(spec.accelerators)
            for site, spec in config.sites.items()
            if spec.accelerators is not None
        }
        return backends

    def _cached(self, key: str, load: Callable[[], Any]) -> Any:
        """What submissions validate against, read from the database at most once a second."""
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is None or now - hit[0] > CACHE_S:
            hit = (now, load())
            self._cache[key] = hit
        return hit[1]

    def site_ids(self) -> frozenset[str]:
        ids: frozenset[str] = self._cached(
            "sites", lambda: frozenset(r["id"] for r in self.store.sites())
        )
        return ids

    def tenant_ids(self) -> frozenset[str]:
        ids: frozenset[str] = self._cached(
            "tenants", lambda: frozenset(r["id"] for r in self.store.tenants())
        )
        return ids

    def approval_classes(self) -> frozenset[str]:
        classes: frozenset[str] = self._cached(
            "approval", lambda: frozenset(self.store.approval_classes())
        )
        return classes

    def priority_classes(self) -> dict[str, Any]:
        """Priority classes by name (rows), as submissions resolve them."""
        classes: dict[str, Any] = self._cached(
            "classes", lambda: {r["name"]: r for r in self.store.priority_classes()}
        )
        return classes

    def flavor_places(self) -> tuple[dict[str, str], frozenset[str]]:
        """Site -> the hub or site its flavors are named after in the configured scope, and
        the accelerator types of the catalog (what quota keys may name)."""
        places: tuple[dict[str, str], frozenset[str]] = self._cached(
            "places",
            lambda: (
                {
                    r["id"]: r["hub"] if self.config.flavor_scope == "hub" else r["id"]
                    for r in self.store.sites()
                }
                if self.config.flavor_scope != "network"
                else {},
                frozenset(self.scenario.catalog),
            ),
        )
        return places

    def queueing_config(self) -> tuple[QueueingConfig, list[str]]:
        """The queueing policies' configuration as the database holds it now, and the stored
        quota keys it leaves out (`suanli.service.topology.build_queueing`)."""
        scenario = build_scenario(
            self.scenario, self.store.sites(), self.store.pools(), self.store.tenants()
        )
        return build_queueing(
            scenario,
            self.store.tenants(),
            self.config.flavor_scope,
            self.store.priority_classes(),
            self.store.cohorts(),
        )

    def down_sites(self) -> dict[str, float]:
        """Sites the scheduling loop marked down -> since when (`suanli.service.failover`)."""
        down: dict[str, float] = self._cached("down", lambda: failover_state(self.store)[0])
        return down

    def ledger(self) -> MerkleTree:
        """The audit ledger's Merkle tree as sealed so far (kept in step with the database)."""
        with self._ledger_lock:
            tree = self._ledger
            head, _ = self.store.audit_head()
            if head < len(tree):  # a different database: start over
                tree = self._ledger = MerkleTree()
            while len(tree) < head:
                for leaf in self.store.leaf_hashes(len(tree)):
                    tree.append_hash(leaf)
            return tree

    def forget(self) -> None:
        """Drop the caches (after this replica changed what they hold)."""
        self._cache.clear()

    @property
    def scheduler_replica(self) -> str:
        return self.replica + (SCHEDULER_SUFFIX if self.config.scheduler == "process" else "")

    def is_leader(self) -> bool:
        """Whether this replica's scheduling loop holds the scheduler lease."""
        if self.config.scheduler == "thread":
            return self.loop.is_leader
        holder, expires = self.store.lease()
        return holder == self.scheduler_replica and expires > time.time()

    def start(self) -> None:
        self.writer = SubmissionWriter(self.store)
        if self.engine.dialect.name == "sqlite":
            # the API process checkpoints for every process of the replica (its scheduler's)
            self.checkpointer = Checkpointer(self.engine)
            self.checkpointer.start()
        if self.config.scheduler == "thread":
            self.loop.start()
        elif self.config.scheduler == "process":
            self._metrics_dir = tempfile.mkdtemp(prefix="suanli-metrics-")
            self.metrics_file = Path(self._metrics_dir) / "scheduler.prom"
            self._start_child()
            threading.Thread(target=self._supervise, name="suanli-supervisor", daemon=True).start()
        elif self.config.scheduler != "off":
            raise SuanliError(f"unknown scheduler mode {self.config.scheduler!r}")

    def _start_child(self) -> None:
        from suanli.service.loop import scheduler_main

        child = replace(
            self.config, scheduler="thread", replica=self.scheduler_replica, db_url=self.db_url
        )
        self._child = multiprocessing.get_context("spawn").Process(
            target=scheduler_main,
            args=(child, os.getpid(), str(self.metrics_file)),
            name="suanli-scheduler",
            daemon=True,
        )
        self._child.start()

    def _supervise(self) -> None:
        """Restart the scheduler process if it dies while the API runs."""
        while not self._closing.wait(1.0):
            child = self._child
            if child is not None and not child.is_alive() and not self._closing.is_set():
                log.error("the scheduler process died (exit %s); restarting it", child.exitcode)
                self._start_child()

    def metrics_text(self) -> bytes:
        """This process's metrics and the scheduling loop's, in Prometheus text format."""
        out = generate_latest(self.metrics.api)
        if self.config.scheduler == "thread":
            return out + generate_latest(self.metrics.registry)
        if self.metrics_file is not None and self.metrics_file.exists():
            return out + self.metrics_file.read_bytes()
        return out

    def close(self) -> None:
        self._closing.set()
        if self._child is not None:
            self._child.terminate()
            self._child.join(timeout=15)
            if self._child.is_alive():
                self._child.kill()
            self._child = None
        if self._metrics_dir is not None:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
        self.loop.stop()
        if self.writer is not None:
            self.writer.close()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


def problem_response(
    status: int,
    title: str,
    detail: str = "",
    errors: list[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, errors=errors or [])
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM,
        headers=dict(headers) if headers else None,
    )


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "spec", "accelerators", "count")`` -> ``spec.accelerators.count``."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


class EdgeMiddleware:
    """Pure ASGI: refuses oversized bodies and times every request for Prometheus."""

    def __init__(self, app: Any, metrics: ServiceMetrics, service: Service) -> None:
        self.app, self.metrics, self.service = app, metrics, service

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > MAX_BODY_BYTES):
                resp = problem_response(
                    413, "Request body too large", f"bodies are limited to {MAX_BODY_BYTES} bytes"
                )
                await resp(scope, receive, send)
                return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        seen = [0]

        async def limited() -> MutableMapping[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > MAX_BODY_BYTES:
                    raise ApiProblem(
                        413,
                        "Request body too large",
                        f"bodies are limited to {MAX_BODY_BYTES} bytes",
                    )
            return message

        fast = fastpath.is_submission(scope)
        try:
            if fast:
                await fastpath.submit(self.service, self.app, scope, limited, send_status)
            else:
                await self.app(scope, limited, send_status)
        finally:
            route = scope.get("route")
            path = "/v1/jobs" if fast else getattr(route, "path", "unmatched")
            self.metrics.api_latency.labels(scope["method"], path, str(status[0])).observe(
                time.perf_counter() - started
            )


def create_app(service: Service) -> FastAPI:
    """The FastAPI app of one replica; its lifespan starts and stops the service."""
    from suanli.service.dashboard import router as dashboard_router
    from suanli.service.routes import router
    from suanli.web import mount_dashboard

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="Suanli control plane",
        version="1",
        description="Submit AI jobs to a network of compute sites; see docs/service.md.",
        lifespan=lifespan,
        # the service's metrics are Prometheus's (/metrics); FastAPI's native OpenTelemetry
        # otherwise looks up its providers on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = service
    app.include_router(router)
    app.include_router(dashboard_router)
    mount_dashboard(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            return problem_response(400, "Malformed JSON body", str(errs[0].get("msg", "")))
        fields = [
            FieldProblem(field=field_name(e.get("loc", ())), message=str(e.get("msg")))
            for e in errs
        ]
        detail = "; ".join(f"{f.field}: {f.message}" for f in fields)
        return problem_response(422, "Invalid request", detail, fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(AuthError)
    async def _auth(_r: Request, exc: AuthError) -> JSONResponse:
        title = "Unauthorized" if exc.status == 401 else "Forbidden"
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc.status, title, exc.detail, headers=headers)

    @app.exception_handler(ApiProblem)
    async def _problem(_r: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.errors)

    @app.exception_handler(IdempotencyConflict)
    async def _conflict(_r: Request, exc: IdempotencyConflict) -> JSONResponse:
        return problem_response(
            409,
            "Idempotency key reused with another body",
            str(exc),
            [FieldProblem(field="Idempotency-Key", message=str(exc))],
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(service.metrics_text(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(EdgeMiddleware, metrics=service.metrics, service=service)
    return app

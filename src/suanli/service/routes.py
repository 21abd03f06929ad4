"""The ``/v1`` routes. Each checks the caller's role first (`suanli.service.auth`)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from suanli.core.policies import is_queueing
from suanli.errors import UnknownNameError
from suanli.ledger.keyring import KEYS_FORMAT, KeyHistory
from suanli.ledger.ledger import HEAD_FORMAT, signed_message
from suanli.service import schemas as w
from suanli.service import views
from suanli.service.app import ApiProblem, Service
from suanli.service.auth import Principal
from suanli.service.jobs import PRIORITY_CLASS, body_hash, document_dict, new_job_id
from suanli.service.schemas import JOB_ID_PATTERN, NAME_PATTERN, Role
from suanli.service.storage.repo import NETWORK_COHORT, UnknownCohort
from suanli.service.writer import NewJob

OP, TEN, REG = Role.OPERATOR, Role.TENANT, Role.REGULATOR
INT32 = 2**31 - 1
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": PROBLEM_CONTENT}
    for code, text in [
        (400, "Malformed request"),
        (401, "No valid API token"),
        (403, "The token's role may not do this"),
        (404, "No such resource (or not yours)"),
        (409, "Conflict"),
        (413, "Body too large"),
        (422, "Invalid field (named in the problem's errors)"),
    ]
}

router = APIRouter(prefix="/v1", responses=ERRORS)

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=18)]
SiteId = Annotated[str, Path(pattern=NAME_PATTERN, max_length=63)]
TenantId = Annotated[str, Path(pattern=NAME_PATTERN, max_length=63)]
ClassName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=63)]
CohortName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=63)]


async def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


async def principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    svc: Service = request.app.state.service
    return svc.auth(authorization)


Svc = Annotated[Service, Depends(service)]
Who = Annotated[Principal, Depends(principal)]


def allow(*roles: Role) -> Any:
    """A route dependency: the caller has one of ``roles``. Dependencies run before the
    parameters and body are validated, so a caller without the role learns nothing more."""

    async def check(who: Who) -> None:
        who.require(*roles)

    return check


def not_found(what: str, name: str) -> ApiProblem:
    return ApiProblem(404, "Not found", f"no {what} {name!r}")


# -- health ----------------------------------------------------------------------------


@router.get("/health", response_model=w.Health, tags=["health"])
async def health() -> w.Health:
    """Liveness: the process answers."""
    return w.Health()


@router.get(
    "/ready",
    response_model=w.Readiness,
    tags=["health"],
    responses={503: {"model": w.Readiness, "description": "Not ready"}},
)
def ready(svc: Svc, response: Response) -> w.Readiness:
    """Readiness: the database answers."""
    db = svc.store.ping()
    if not db:
        response.status_code = 503
    return w.Readiness(
        status="ready" if db else "not-ready",
        database=db,
        leader=svc.is_leader(),
        replica=svc.replica,
    )


# -- jobs ------------------------------------------------------------------------------


def _check_document(svc: Service, who: Principal, doc: w.JobDocument) -> str:
    """The job's tenant, after the checks that need the database's view of the world."""
    if who.role is REG:
        who.require(OP, TEN)
    if who.role is TEN:
        if doc.metadata.tenant not in (None, who.tenant):
            raise ApiProblem(
                403, "Forbidden", "a tenant submits only its own jobs", "metadata.tenant"
            )
        tenant = who.tenant or ""
    else:
        if doc.metadata.tenant is None:
            raise ApiProblem(
                422, "Invalid request", "an operator must name the tenant", "metadata.tenant"
            )
        tenant = doc.metadata.tenant
        if tenant not in svc.tenant_ids():
            raise ApiProblem(
                422, "Invalid request", f"unknown tenant {tenant!r}", "metadata.tenant"
            )
    sites = svc.site_ids()
    spec = doc.spec
    if spec.data.site not in sites:
        raise ApiProblem(
            422, "Invalid request", f"unknown site {spec.data.site!r}", "spec.data.site"
        )
    if spec.users_site is not None and spec.users_site not in sites:
        raise ApiProblem(
            422, "Invalid request", f"unknown site {spec.users_site!r}", "spec.usersSite"
        )
    for i, t in enumerate(spec.accelerators.types):
        try:
            svc.scenario.catalog[t]
        except UnknownNameError as exc:
            raise ApiProblem(
                422, "Invalid request", str(exc), f"spec.accelerators.types[{i}]"
            ) from None
    return tenant


def _priority_class(svc: Service, doc: w.JobDocument) -> dict[str, Any] | None:
    """The class a job gets (the one it names, else the global default unless it gives a
    priority), as stored with it; a 422 naming the field for an unknown class or a priority
    that disagrees with the class's value."""
    spec = doc.spec
    classes = svc.priority_classes()
    name = spec.priority_class
    if name is None:
        if "priority" in spec.model_fields_set:
            return None  # a bare number
        name = next((n for n, c in classes.items() if c["global_default"]), None)
        if name is None:
            return None
    elif name not in classes:
        known = ", ".join(sorted(classes)) or "none (POST /v1/priority-classes)"
        raise ApiProblem(
            422,
            "Invalid request",
            f"unknown priority class {name!r}; known classes: {known}",
            "spec.priorityClass",
        )
    c = classes[name]
    given = spec.priority_class is not None and "priority" in spec.model_fields_set
    if given and spec.priority != c["value"]:
        raise ApiProblem(
            422,
            "Invalid request",
            f"priority {spec.priority} disagrees with priority class {name!r} (value "
            f"{c['value']}): give one of them, or the class's value",
            "spec.priority",
        )
    return {"name": name, "value": int(c["value"]), "preemptionPolicy": c["preemption_policy"]}


@router.post(
    "/jobs",
    status_code=201,
    response_model=w.Job,
    tags=["jobs"],
    responses={200: {"model": w.Job, "description": "Replay of an idempotent submit"}},
    dependencies=[Depends(allow(OP, TEN))],
)
async def submit_job(
    doc: w.JobDocument,
    svc: Svc,
    who: Who,
    idempotency_key: Annotated[
        str | None, Header(max_length=256, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> Any:
    """Submit a job. It is durable before the 201 is sent. With an ``Idempotency-Key``, the same
    key and body return the same job (200); the same key with another body is a 409."""
    return await accept_job(svc, who, doc, idempotency_key)


async def accept_job(
    svc: Service, who: Principal, doc: w.JobDocument, idempotency_key: str | None
) -> Response:
    """Check, store and answer one submission (the route and `suanli.service.fastpath`)."""
    tenant = _check_document(svc, who, doc)
    klass = _priority_class(svc, doc)
    stored = document_dict(doc)
    stored["metadata"]["tenant"] = tenant
    # the body's hash binds an idempotency key; without a key nothing compares it
    digest = body_hash(stored) if idempotency_key is not None else ""
    if klass is not None:  # the class's value and name, as the stored spec shows them
        stored["spec"]["priority"] = klass["value"]
        stored["spec"]["priorityClass"] = klass["name"]
        stored[PRIORITY_CLASS] = klass
    needs_approval = doc.spec.data.classification.value in svc.approval_classes()
    now = time.time()
    state = w.JobState.PENDING_APPROVAL if needs_approval else w.JobState.QUEUED
    reason = (
        f"{doc.spec.data.classification.value} data: waiting for a regulator's approval"
        if needs_approval
        else "submitted"
    )
    row = {
        "id": new_job_id(),
        "tenant": tenant,
        "name": doc.metadata.name,
        "state": state.value,
        "doc": stored,
        "arrival_h": svc.loop.clock.now(),
        "created_at": now,
        "updated_at": now,
        "reason": reason,
        "cancel_requested": False,
    }
    assert svc.writer is not None
    job_id, created = await svc.writer.submit(
        NewJob(row, reason, who.actor, idempotency_key, digest)
    )
    if created:
        return Response(
            json.dumps(views.new_job_json(row)),
            status_code=201,
            media_type="application/json",
            headers={"Location": f"/v1/jobs/{job_id}"},
        )
    existing = await run_in_threadpool(svc.store.job, job_id)
    assert existing is not None
    return JSONResponse(
        views.job(existing).model_dump(mode="json", by_alias=True),
        status_code=200,
        headers={"Idempotent-Replayed": "true"},
    )


def _own_job(svc: Service, who: Principal, job_id: str) -> Any:
    who.require(OP, TEN)
    row = svc.store.job(job_id)
    if row is None or not who.may_see_tenant(row["tenant"]):
        raise not_found("job", job_id)
    return row


@router.get(
    "/jobs", response_model=w.JobPage, tags=["jobs"], dependencies=[Depends(allow(OP, TEN))]
)
def list_jobs(
    svc: Svc,
    who: Who,
    tenant: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=63)] = None,
    state: Annotated[list[w.JobState] | None, Query()] = None,
    name: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=63)] = None,
    after: Annotated[int | None, Query(ge=0, le=INT32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Literal["asc", "desc"] = "asc",
) -> w.JobPage:
    """Jobs in submission order (``order=desc``: newest first), filtered; a tenant sees
    only its own."""
    who.require(OP, TEN)
    if who.role is TEN:
        if tenant not in (None, who.tenant):
            raise ApiProblem(403, "Forbidden", "a tenant lists only its own jobs", "tenant")
        tenant = who.tenant
    rows = svc.store.jobs(
        tenant=tenant,
        states=[s.value for s in state or []],
        name=name,
        after=after,
        limit=limit,
        newest_first=order == "desc",
    )
    nxt = int(rows[-1]["seq"]) if len(rows) == limit else None
    return w.JobPage(items=[views.job(r) for r in rows], next=nxt)


@router.get(
    "/jobs/{job_id}", response_model=w.Job, tags=["jobs"], dependencies=[Depends(allow(OP, TEN))]
)
def get_job(job_id: JobId, svc: Svc, who: Who) -> w.Job:
    return views.job(_own_job(svc, who, job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=w.Job,
    tags=["jobs"],
    dependencies=[Depends(allow(OP, TEN))],
)
def cancel_job(job_id: JobId, svc: Svc, who: Who) -> w.Job:
    """Cancel a job: at once while it waits; a placed job is stopped by the scheduler."""
    row = _own_job(svc, who, job_id)
    if w.JobState(row["state"]).terminal:
        raise ApiProblem(409, "Conflict", f"job {job_id} already ended: {row['state']}")
    svc.store.request_cancel(job_id, who.actor)
    return views.job(svc.store.job(job_id) or row)


@router.get(
    "/jobs/{job_id}/events",
    response_model=list[w.JobEvent],
    tags=["jobs"],
    dependencies=[Depends(allow(OP, TEN))],
)
def job_events(job_id: JobId, svc: Svc, who: Who) -> list[w.JobEvent]:
    """Every change of the job's state, with its reason and who caused it."""
    _own_job(svc, who, job_id)
    return [views.event(r) for r in svc.store.job_events(job_id)]


# -- sites and pools -------------------------------------------------------------------


def _site(svc: Service, site_id: str) -> w.Site:
    row = svc.store.site(site_id)
    if row is None:
        raise not_found("site", site_id)
    series = svc.store.site_series(site_id, values=False).get(site_id)
    return views.site(row, svc.store.pools(site_id), svc.down_sites().get(site_id), series)


@router.get(
    "/sites", response_model=list[w.Site], tags=["sites"], dependencies=[Depends(allow(OP, TEN))]
)
def list_sites(svc: Svc, who: Who) -> list[w.Site]:
    who.require(OP, TEN)
    pools: dict[str, list[Any]] = {}
    for p in svc.store.pools():
        pools.setdefault(p["site_id"], []).append(p)
    down = svc.down_sites()
    series = svc.store.site_series(values=False)
    return [
        views.site(r, pools.get(r["id"], []), down.get(r["id"]), series.get(r["id"]))
        for r in svc.store.sites()
    ]


@router.post(
    "/sites",
    status_code=201,
    response_model=w.Site,
    tags=["sites"],
    dependencies=[Depends(allow(OP))],
)
def register_site(body: w.SiteIn, svc: Svc, who: Who) -> w.Site:
    """Register a site with its pools (flat price and carbon until series are attached)."""
    who.require(OP)
    for i, p in enumerate(body.pools):
        if p.accelerator not in set(svc.scenario.catalog):
            raise ApiProblem(
                422,
                "Invalid request",
                f"unknown accelerator type {p.accelerator!r}",
                f"pools[{i}].accelerator",
            )
    row = body.model_dump(exclude={"pools", "price_yuan_per_kwh", "carbon_kg_per_kwh"})
    row["price"], row["carbon"] = body.price_yuan_per_kwh, body.carbon_kg_per_kwh
    pools = [p.model_dump() for p in body.pools]
    if not svc.store.add_site(row, pools, who.actor):
        raise ApiProblem(409, "Conflict", f"site {body.id!r} exists", "id")
    svc.forget()
    return _site(svc, body.id)


@router.get(
    "/sites/{site_id}",
    response_model=w.Site,
    tags=["sites"],
    dependencies=[Depends(allow(OP, TEN))],
)
def get_site(site_id: SiteId, svc: Svc, who: Who) -> w.Site:
    who.require(OP, TEN)
    return _site(svc, site_id)


@router.get(
    "/sites/{site_id}/pools",
    response_model=list[w.Pool],
    tags=["sites"],
    dependencies=[Depends(allow(OP, TEN))],
)
def list_pools(site_id: SiteId, svc: Svc, who: Who) -> list[w.Pool]:
    who.require(OP, TEN)
    return _site(svc, site_id).pools


@router.post(
    "/sites/{site_id}/pools",
    status_code=201,
    response_model=w.Pool,
    tags=["sites"],
    dependencies=[Depends(allow(OP))],
)
def add_pool(site_id: SiteId, body: w.PoolIn, svc: Svc, who: Who) -> w.Pool:
    who.require(OP)
    _site(svc, site_id)
    if body.accelerator not in set(svc.scenario.catalog):
        raise ApiProblem(
            422, "Invalid request", f"unknown accelerator type {body.accelerator!r}", "accelerator"
        )
    idx = svc.store.add_pool(site_id, body.model_dump(), who.actor)
    return _site(svc, site_id).pools[idx]


@router.post(
    "/sites/{site_id}/drain",
    response_model=w.Site,
    tags=["sites"],
    dependencies=[Depends(allow(OP))],
)
def drain_site(site_id: SiteId, svc: Svc, who: Who) -> w.Site:
    """Take no new work at the site; running work finishes."""
    who.require(OP)
    _site(svc, site_id)
    svc.store.set_site_state(site_id, "draining", who.actor)
    return _site(svc, site_id)


@router.post(
    "/sites/{site_id}/resume",
    response_model=w.Site,
    tags=["sites"],
    dependencies=[Depends(allow(OP))],
)
def resume_site(site_id: SiteId, svc: Svc, who: Who) -> w.Site:
    who.require(OP)
    _site(svc, site_id)
    svc.store.set_site_state(site_id, "active", who.actor)
    return _site(svc, site_id)


@router.get(
    "/sites/{site_id}/energy",
    response_model=w.SiteEnergy,
    tags=["sites"],
    dependencies=[Depends(allow(OP, TEN))],
)
def get_site_energy(site_id: SiteId, svc: Svc, who: Who) -> w.SiteEnergy:
    """The hourly price (yuan/kWh) and carbon intensity (kgCO2/kWh) series attached to the
    site, with their sources; null: the site's flat figure (a scenario's site: its own)."""
    who.require(OP, TEN)
    _site(svc, site_id)
    return views.site_energy(site_id, svc.store.site_series(site_id).get(site_id, {}))


@router.put(
    "/sites/{site_id}/energy",
    response_model=w.SiteEnergy,
    tags=["sites"],
    dependencies=[Depends(allow(OP))],
)
def put_site_energy(site_id: SiteId, body: w.SiteEnergyIn, svc: Svc, who: Who) -> w.SiteEnergy:
    """Attach hourly series to the site: ``values[i]`` holds for the UTC hour from ``start +
    i`` hours; past the end the last day repeats. Replaces what was attached (a kind left out
    goes back to the flat figure); the scheduler uses it from its next rebuild."""
    who.require(OP)
    _site(svc, site_id)
    series: dict[str, dict[str, Any]] = {}
    for kind, given in (("price", body.price_yuan_per_kwh), ("carbon", body.carbon_kg_per_kwh)):
        if given is not None:
            series[kind] = {
                "start": given.start.timestamp(),
                "hourly": list(given.values),
                "source": given.source,
            }
    if not svc.store.set_site_series(site_id, series, who.actor):
        raise not_found("site", site_id)
    svc.forget()
    return views.site_energy(site_id, svc.store.site_series(site_id).get(site_id, {}))


@router.delete(
    "/sites/{site_id}/energy",
    status_code=204,
    tags=["sites"],
    dependencies=[Depends(allow(OP))],
)
def delete_site_energy(site_id: SiteId, svc: Svc, who: Who) -> Response:
    """Detach the site's series: it goes back to its flat price and carbon (a scenario's
    site: to the scenario's series)."""
    who.require(OP)
    if not svc.store.set_site_series(site_id, {}, who.actor):
        raise not_found("site", site_id)
    svc.forget()
    return Response(status_code=204)


# -- tenants and quotas ----------------------------------------------------------------


def _tenant(svc: Service, who: Principal, tenant_id: str) -> Any:
    who.require(OP, TEN)
    row = svc.store.tenant(tenant_id)
    if row is None or not who.may_see_tenant(tenant_id):
        raise not_found("tenant", tenant_id)
    return row


@router.get(
    "/tenants", response_model=list[w.Tenant], tags=["tenants"], dependencies=[Depends(allow(OP))]
)
def list_tenants(svc: Svc, who: Who) -> list[w.Tenant]:
    who.require(OP)
    return [views.tenant(r) for r in svc.store.tenants()]


@router.post(
    "/tenants",
    status_code=201,
    response_model=w.Tenant,
    tags=["tenants"],
    dependencies=[Depends(allow(OP))],
)
def create_tenant(body: w.TenantIn, svc: Svc, who: Who) -> w.Tenant:
    who.require(OP)
    try:
        added = svc.store.add_tenant(body.model_dump(mode="json"), who.actor)
    except UnknownCohort as exc:
        raise unknown_cohort(svc, exc.name, "cohort") from None
    if not added:
        raise ApiProblem(409, "Conflict", f"tenant {body.id!r} exists", "id")
    svc.forget()
    return views.tenant(_tenant(svc, who, body.id))


@router.get(
    "/tenants/{tenant_id}",
    response_model=w.Tenant,
    tags=["tenants"],
    dependencies=[Depends(allow(OP, TEN))],
)
def get_tenant(tenant_id: TenantId, svc: Svc, who: Who) -> w.Tenant:
    return views.tenant(_tenant(svc, who, tenant_id))


@router.get(
    "/tenants/{tenant_id}/quota",
    response_model=w.Quota,
    tags=["tenants"],
    dependencies=[Depends(allow(OP, TEN))],
)
def get_quota(tenant_id: TenantId, svc: Svc, who: Who) -> w.Quota:
    row = _tenant(svc, who, tenant_id)
    limits = row["limits"] or {}
    return w.Quota(
        accelerators=dict(row["quota"] or {}),
        borrowing_limit=dict(limits.get("borrowing") or {}),
        lending_limit=dict(limits.get("lending") or {}),
        cohort=row["cohort"] or NETWORK_COHORT,
    )


@router.put(
    "/tenants/{tenant_id}/quota",
    response_model=w.Quota,
    tags=["tenants"],
    dependencies=[Depends(allow(OP))],
)
def set_quota(tenant_id: TenantId, body: w.Quota, svc: Svc, who: Who) -> w.Quota:
    """Nominal accelerators per flavor: ``TYPE``, or ``TYPE@HUB`` / ``TYPE@SITE`` when the
    service runs with that flavor scope, the limits, and ``cohort``: the cohort of the
    tenant's queue (left out: it stays in its cohort). A queueing policy enforces it from its
    next cycle (within a few seconds); other policies only show it (docs/service.md,
    "Queueing")."""
    who.require(OP)
    row = _tenant(svc, who, tenant_id)
    places, types = svc.flavor_places()
    scope = svc.config.flavor_scope
    for key in body.accelerators:
        kind, _, place = key.partition("@")
        field = f"accelerators.{key}"
        if kind not in types:
            raise ApiProblem(
                422, "Invalid request", f"{key!r}: unknown accelerator type {kind!r}", field
            )
        if scope == "network" and place:
            raise ApiProblem(
                422,
                "Invalid request",
                f"{key!r}: the service's flavor scope is network: quotas are per type "
                f"({kind!r}); per hub or site needs serve --flavor-scope hub or site",
                field,
            )
        if scope != "network" and place not in set(places.values()):
            known = ", ".join(sorted(set(places.values())))
            raise ApiProblem(
                422,
                "Invalid request",
                f"{key!r}: the flavor scope is {scope}: write {kind}@<{scope}>"
                + (f" with an unknown {scope} {place!r}" if place else "")
                + f"; known: {known}",
                field,
            )
    limits = {"borrowing": body.borrowing_limit, "lending": body.lending_limit}
    for what, given in (
        ("borrowingLimit", body.borrowing_limit),
        ("lendingLimit", body.lending_limit),
    ):
        for key, n in given.items():
            if key not in body.accelerators:
                raise ApiProblem(
                    422,
                    "Invalid request",
                    f"{key!r}: a limit on a flavor without a quota in accelerators",
                    f"{what}.{key}",
                )
            if what == "lendingLimit" and n > body.accelerators[key]:
                raise ApiProblem(
                    422,
                    "Invalid request",
                    f"{key!r}: lends {n} of a quota of {body.accelerators[key]}",
                    f"{what}.{key}",
                )
    moved = "cohort" in body.model_fields_set
    cohort = (body.cohort or NETWORK_COHORT) if moved else None
    try:
        svc.store.set_quota(tenant_id, dict(body.accelerators), who.actor, limits, cohort)
    except UnknownCohort as exc:
        raise unknown_cohort(svc, exc.name, "cohort") from None
    return body.model_copy(update={"cohort": cohort or row["cohort"] or NETWORK_COHORT})


def unknown_cohort(svc: Service, name: str, field: str) -> ApiProblem:
    known = ", ".join([NETWORK_COHORT, *(r["name"] for r in svc.store.cohorts())])
    return ApiProblem(
        422,
        "Invalid request",
        f"unknown cohort {name!r}; known cohorts: {known} (define one: PUT /v1/cohorts/{{name}})",
        field,
    )


# -- cohorts ---------------------------------------------------------------------------


def _cohort(svc: Service, name: str) -> w.Cohort:
    members = [r["id"] for r in svc.store.tenants() if (r["cohort"] or NETWORK_COHORT) == name]
    if name == NETWORK_COHORT:
        return views.builtin_cohort(members)
    row = svc.store.cohort(name)
    if row is None:
        raise not_found("cohort", name)
    return views.cohort(row, members)


def _built_in(name: str, what: str) -> None:
    if name == NETWORK_COHORT:
        raise ApiProblem(
            409,
            "Conflict",
            f"cohort {name!r} is built in (the cohort of every queue whose tenant names none) "
            f"and cannot be {what}",
            "name",
        )


@router.get(
    "/cohorts",
    response_model=list[w.Cohort],
    tags=["cohorts"],
    dependencies=[Depends(allow(OP))],
)
def list_cohorts(svc: Svc, who: Who) -> list[w.Cohort]:
    """The cohorts, the built-in ``network`` first, each with the tenants whose queues are in
    it."""
    who.require(OP)
    members: dict[str, list[str]] = {}
    for t in svc.store.tenants():
        members.setdefault(t["cohort"] or NETWORK_COHORT, []).append(t["id"])
    return [views.builtin_cohort(members.get(NETWORK_COHORT, []))] + [
        views.cohort(r, members.get(r["name"], [])) for r in svc.store.cohorts()
    ]


@router.get(
    "/cohorts/{name}",
    response_model=w.Cohort,
    tags=["cohorts"],
    dependencies=[Depends(allow(OP))],
)
def get_cohort(name: CohortName, svc: Svc, who: Who) -> w.Cohort:
    who.require(OP)
    return _cohort(svc, name)


@router.put(
    "/cohorts/{name}",
    response_model=w.Cohort,
    tags=["cohorts"],
    responses={201: {"model": w.Cohort, "description": "Created"}},
    dependencies=[Depends(allow(OP))],
)
def put_cohort(
    name: CohortName, body: w.CohortIn, svc: Svc, who: Who, response: Response
) -> w.Cohort:
    """Create a cohort (201) or replace its parent and description (200). A tenant's queue is
    put in it with ``cohort`` in ``PUT /v1/tenants/{id}/quota``; a queueing policy uses it
    from its next cycle. A parent that is not defined, or that is the cohort or below it
    (a cycle), is a 422 naming ``parent``."""
    who.require(OP)
    _built_in(name, "redefined")
    created, refused = svc.store.put_cohort(name, body.parent, body.description, who.actor)
    if refused is not None:
        kind, _, detail = refused.partition(":")
        if kind == "parent":
            known = ", ".join([NETWORK_COHORT, *(r["name"] for r in svc.store.cohorts())])
            raise ApiProblem(
                422,
                "Invalid request",
                f"cohort {name!r}: unknown parent cohort {detail!r}; known cohorts: {known}",
                "parent",
            )
        if kind == "cycle":
            raise ApiProblem(
                422,
                "Invalid request",
                f"cohort {name!r}: parent {body.parent!r} makes a cycle: {detail}",
                "parent",
            )
        raise ApiProblem(409, "Conflict", f"cohort {name!r} changed meanwhile; try again", "name")
    if created:
        response.status_code = 201
        response.headers["Location"] = f"/v1/cohorts/{name}"
    return _cohort(svc, name)


@router.delete(
    "/cohorts/{name}",
    status_code=204,
    tags=["cohorts"],
    dependencies=[Depends(allow(OP))],
)
def delete_cohort(name: CohortName, svc: Svc, who: Who) -> Response:
    """Delete a cohort no tenant's queue and no cohort below it uses (else a 409 naming
    them: move the tenants first, with ``cohort`` in their quota)."""
    who.require(OP)
    _built_in(name, "deleted")
    refused = svc.store.delete_cohort(name, who.actor)
    if refused == "missing":
        raise not_found("cohort", name)
    if refused is not None:
        kind, _, names = refused.partition(":")
        users = ", ".join(names.split(","))
        what = (
            f"the cohort of the queues of tenants {users} (move them first: cohort in PUT "
            "/v1/tenants/{id}/quota)"
            if kind == "tenants"
            else f"the parent of cohorts {users}"
        )
        raise ApiProblem(409, "Conflict", f"cohort {name!r} is still {what}", "name")
    return Response(status_code=204)


# -- priority classes ------------------------------------------------------------------


@router.get(
    "/priority-classes",
    response_model=list[w.PriorityClass],
    tags=["priority-classes"],
    dependencies=[Depends(allow(OP, TEN))],
)
def list_priority_classes(svc: Svc, who: Who) -> list[w.PriorityClass]:
    """The named priorities a job may give in ``spec.priorityClass``."""
    who.require(OP, TEN)
    return [views.priority_class(r) for r in svc.store.priority_classes()]


@router.post(
    "/priority-classes",
    status_code=201,
    response_model=w.PriorityClass,
    tags=["priority-classes"],
    dependencies=[Depends(allow(OP))],
)
def create_priority_class(body: w.PriorityClassIn, svc: Svc, who: Who) -> w.PriorityClass:
    """Create a class; a second ``globalDefault`` class is a 409 naming the first."""
    who.require(OP)
    row = {
        "name": body.name,
        "value": body.value,
        "preemption_policy": body.preemption_policy.value,
        "global_default": body.global_default,
        "description": body.description,
    }
    refused = svc.store.add_priority_class(row, who.actor)
    if refused == "exists":
        raise ApiProblem(409, "Conflict", f"priority class {body.name!r} exists", "name")
    if refused is not None:
        other = refused.removeprefix("default:")
        raise ApiProblem(
            409,
            "Conflict",
            f"priority class {other!r} is already the global default; at most one class is",
            "globalDefault",
        )
    svc.forget()
    created = svc.store.priority_class(body.name)
    assert created is not None
    return views.priority_class(created)


@router.get(
    "/priority-classes/{name}",
    response_model=w.PriorityClass,
    tags=["priority-classes"],
    dependencies=[Depends(allow(OP, TEN))],
)
def get_priority_class(name: ClassName, svc: Svc, who: Who) -> w.PriorityClass:
    who.require(OP, TEN)
    row = svc.store.priority_class(name)
    if row is None:
        raise not_found("priority class", name)
    return views.priority_class(row)


@router.delete(
    "/priority-classes/{name}",
    status_code=204,
    tags=["priority-classes"],
    dependencies=[Depends(allow(OP))],
)
def delete_priority_class(name: ClassName, svc: Svc, who: Who) -> Response:
    """Delete a class; jobs that named it keep the priority they were given."""
    who.require(OP)
    if not svc.store.delete_priority_class(name, who.actor):
        raise not_found("priority class", name)
    svc.forget()
    return Response(status_code=204)


# -- policies and approvals ------------------------------------------------------------


def _policies(svc: Service) -> w.PolicySet:
    return w.PolicySet(
        scheduling=svc.config.policy,
        queueing=is_queueing(svc.config.policy),
        flavor_scope=svc.config.flavor_scope,
        approval_required_for=svc.store.approval_classes(),
        residency="personal, important and core data are processed only in their own jurisdiction",
    )


@router.get(
    "/policies",
    response_model=w.PolicySet,
    tags=["policies"],
    dependencies=[Depends(allow(OP, TEN))],
)
def get_policies(svc: Svc, who: Who) -> w.PolicySet:
    who.require(OP, TEN)
    return _policies(svc)


@router.put(
    "/policies/approval",
    response_model=w.PolicySet,
    tags=["policies"],
    dependencies=[Depends(allow(OP))],
)
def set_approval_policy(body: w.ApprovalPolicyIn, svc: Svc, who: Who) -> w.PolicySet:
    """Which data classes need a regulator's approval before scheduling."""
    who.require(OP)
    classes = sorted({c.value for c in body.approval_required_for})
    svc.store.set_approval_classes(classes, who.actor)
    svc.forget()
    return _policies(svc)


@router.get(
    "/approvals",
    response_model=list[w.Approval],
    tags=["approvals"],
    dependencies=[Depends(allow(REG, OP))],
)
def list_approvals(
    svc: Svc, who: Who, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[w.Approval]:
    """Jobs waiting for a regulator's decision."""
    who.require(REG, OP)
    return [views.approval(r) for r in svc.store.jobs(states=["pending-approval"], limit=limit)]


@router.post(
    "/approvals/{job_id}",
    response_model=w.DecisionResult,
    tags=["approvals"],
    dependencies=[Depends(allow(REG))],
)
def decide(job_id: JobId, body: w.ApprovalDecision, svc: Svc, who: Who) -> w.DecisionResult:
    """Approve (the job is queued) or deny (it is rejected), with a reason."""
    who.require(REG)
    if not svc.store.decide(job_id, body.decision == "approve", body.reason, who.actor):
        row = svc.store.job(job_id)
        if row is None:
            raise not_found("job", job_id)
        raise ApiProblem(409, "Conflict", f"job {job_id} is {row['state']}, not pending")
    row = svc.store.job(job_id)
    assert row is not None
    return w.DecisionResult(job_id=job_id, decision=body.decision, state=row["state"])


# -- audit ledger ----------------------------------------------------------------------


@router.get(
    "/audit/head",
    response_model=w.AuditHead,
    tags=["audit"],
    dependencies=[Depends(allow(REG, OP))],
    responses={
        503: {
            "description": "This replica's key was rotated away: restart it with the new key",
            "content": PROBLEM_CONTENT,
        }
    },
)
def audit_head(svc: Svc, who: Who) -> w.AuditHead:
    """The newest tree head of the audit ledger (a Merkle tree, RFC 6962), signed now."""
    who.require(REG, OP)
    size, root = svc.store.audit_head()
    key, entry = svc.head_signer()  # read after the size: a later rotation is at it or after
    if entry.valid_from > size:  # a rotation between the two reads: the tree is that big now
        size, root = svc.store.audit_head()
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = key.sign(signed_message(size, bytes.fromhex(root), at))
    return w.AuditHead(
        tree_size=size,
        root=root,
        time=at,
        format=HEAD_FORMAT,
        signature=signature.hex(),
        public_key=key.public_key.hex(),
        key_id=entry.key_id,
    )


def _ledger_keys(history: KeyHistory) -> w.LedgerKeys:
    keys = [
        w.LedgerKey.model_validate({**k.to_json(), "validUntil": history.valid_until(i)})
        for i, k in enumerate(history.keys)
    ]
    return w.LedgerKeys(format=KEYS_FORMAT, current=history.current.key_id, keys=keys)


@router.get(
    "/audit/keys",
    response_model=w.LedgerKeys,
    tags=["audit"],
    dependencies=[Depends(allow(REG, OP))],
)
def audit_keys(svc: Svc, who: Who) -> w.LedgerKeys:
    """The history of the keys that sign tree heads, each endorsed by the one before: check
    a head with `suanli.ledger.verify_head` (or `suanli audit check-head`) from the first
    key, pinned out of band."""
    who.require(REG, OP)
    history = svc.store.key_history()
    if history is None:  # the service writes one on start
        raise not_found("key history", "ledger_keys")
    return _ledger_keys(history)


@router.post(
    "/audit/keys/rotate",
    response_model=w.LedgerKeys,
    tags=["audit"],
    dependencies=[Depends(allow(OP))],
)
def rotate_ledger_key(body: w.LedgerKeyRotation, svc: Svc, who: Who) -> w.LedgerKeys:
    """Rotate the key kept in the database: a new key, endorsed by the old one at the sealed
    tree size, signs heads from then on; the rotation is sealed into the ledger. A service
    that signs with ``--ledger-key FILE`` answers 409 (`suanli admin rotate-ledger-key`)."""
    who.require(OP)
    return _ledger_keys(svc.rotate_ledger_key(body.reason, who.actor))


@router.get(
    "/audit/entries",
    response_model=w.AuditEntries,
    tags=["audit"],
    dependencies=[Depends(allow(REG, OP))],
)
def audit_entries(
    svc: Svc,
    who: Who,
    after: Annotated[int, Query(ge=0, le=INT32)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> w.AuditEntries:
    """Sealed entries in ledger order, after ``after``."""
    who.require(REG, OP)
    items = [views.audit_entry(r) for r in svc.store.audit_entries(after, limit)]
    return w.AuditEntries(items=items, next=items[-1].seq if len(items) == limit else None)


@router.get(
    "/audit/entries/{seq}/proof",
    response_model=w.AuditProof,
    tags=["audit"],
    dependencies=[Depends(allow(REG, OP))],
)
def audit_proof(
    seq: Annotated[int, Path(ge=1, le=INT32)],
    svc: Svc,
    who: Who,
    tree_size: Annotated[int | None, Query(ge=1, le=INT32, alias="treeSize")] = None,
) -> w.AuditProof:
    """The inclusion proof of entry ``seq`` in the tree of ``treeSize`` (default: the head)."""
    who.require(REG, OP)
    row = svc.store.audit_entry(seq)
    if row is None:
        raise not_found("ledger entry", str(seq))
    tree = svc.ledger()
    size = len(tree) if tree_size is None else tree_size
    if not seq <= size <= len(tree):
        raise ApiProblem(
            422, "Invalid request", f"treeSize must be in {seq}..{len(tree)}", "treeSize"
        )
    return w.AuditProof(
        entry=views.audit_entry(row),
        leaf_index=seq - 1,
        tree_size=size,
        root=tree.root(size).hex(),
        path=[h.hex() for h in tree.inclusion_proof(seq - 1, size)],
    )


@router.get(
    "/audit/consistency",
    response_model=w.ConsistencyProof,
    tags=["audit"],
    dependencies=[Depends(allow(REG, OP))],
)
def audit_consistency(
    svc: Svc,
    who: Who,
    old: Annotated[int, Query(ge=0, le=INT32)],
    new: Annotated[int | None, Query(ge=0, le=INT32)] = None,
) -> w.ConsistencyProof:
    """Proof that the tree of size ``new`` (default: the head) extends the one of ``old``."""
    who.require(REG, OP)
    tree = svc.ledger()
    size = len(tree) if new is None else new
    if not old <= size <= len(tree):
        raise ApiProblem(422, "Invalid request", f"need old <= new <= {len(tree)}", "old")
    return w.ConsistencyProof(
        old_size=old,
        new_size=size,
        old_root=tree.root(old).hex(),
        new_root=tree.root(size).hex(),
        path=[h.hex() for h in tree.consistency_proof(old, size)],
    )

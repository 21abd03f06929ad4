"""The control plane's commands: ``serve`` and ``admin`` run a service; ``submit``, ``jobs``,
``job``, ``cancel``, ``sites``, ``site-energy`` and ``priority-class`` talk to one over HTTP
(`suanli.service.client`).

Heavy imports (FastAPI, SQLAlchemy) happen inside the commands, so ``suanli --help`` stays fast.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from suanli.errors import SuanliError

err = Console(stderr=True)
admin = typer.Typer(help="Administer a control plane's database.", no_args_is_help=True)
classes = typer.Typer(
    help="Priority classes: named priorities a job gives in spec.priorityClass.",
    no_args_is_help=True,
)

energy = typer.Typer(
    help="Hourly electricity price (yuan/kWh) and carbon intensity (kgCO2/kWh) of a site.",
    no_args_is_help=True,
)


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


Url = Annotated[str | None, typer.Option(help="API URL (default: $SUANLI_URL or config file).")]
Token = Annotated[str | None, typer.Option(help="API token (default: $SUANLI_TOKEN).")]
Db = Annotated[
    str | None, typer.Option("--db", help="Database URL or SQLite path (default: $SUANLI_DB).")
]


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8600,
    db: Db = None,
    scenario: Annotated[str, typer.Option(help="Scenario: sites, prices, tenants.")] = (
        "china-edwc"
    ),
    backend: Annotated[str, typer.Option(help="Where jobs run: local or fake.")] = "local",
    backends: Annotated[
        Path | None,
        typer.Option(
            help="A kind: Backends file: Slurm and Ray clusters per site (docs/backends.md)."
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            help="Scheduling policy: suanli, nearest, cheapest, greenest, or a multi-tenant "
            "queueing policy that enforces tenants' quotas and may preempt: fifo, slurm, "
            "kueue, suanli-queue (docs/service.md, Queueing)."
        ),
    ] = "suanli",
    flavor_scope: Annotated[
        str,
        typer.Option(
            help="Where tenants' quotas hold: network (keys TYPE), hub (TYPE@HUB) or site "
            "(TYPE@SITE)."
        ),
    ] = "network",
    lease_ttl: Annotated[float, typer.Option(help="Leader lease, seconds.")] = 5.0,
    workdir: Annotated[
        Path | None, typer.Option(help="Job directories of the local backend.")
    ] = None,
    fake_seconds_per_hour: Annotated[
        float, typer.Option(hidden=True, help="Fake backend: wall seconds per run-time hour.")
    ] = 0.0,
    tick: Annotated[float, typer.Option(hidden=True, help="Scheduler tick, seconds.")] = 0.1,
    scheduler: Annotated[
        str, typer.Option(help="Where the scheduling loop runs: process, thread or off.")
    ] = "process",
    ledger_key: Annotated[
        Path | None,
        typer.Option(
            help="Ed25519 key file that signs the ledger's tree heads (default: a key kept "
            "in the database, made on first start)."
        ),
    ] = None,
    scheduler_nice: Annotated[
        int,
        typer.Option(
            min=0, max=19, help="Niceness the scheduler process adds (--scheduler process)."
        ),
    ] = 5,
) -> None:
    """Run the control plane: REST API under /v1, metrics at /metrics, the scheduler."""
    import uvicorn

    from suanli.service import Service, ServiceConfig, create_app

    try:
        service = Service(
            ServiceConfig(
                db_url=db or "",
                scenario=scenario,
                backend=backend,
                backends=backends,
                policy=policy,
                flavor_scope=flavor_scope,
                lease_ttl_s=lease_ttl,
                workdir=workdir,
                fake_seconds_per_hour=fake_seconds_per_hour,
                tick_s=tick,
                scheduler=scheduler,
                ledger_key=ledger_key,
                scheduler_nice=scheduler_nice,
            )
        )
    except SuanliError as exc:
        raise _fail(exc) from None
    err.print(
        f"suanli serve: {service.db_url} · "
        + (f"backends {backends}" if backends else f"backend {service.backend.name}")
        + f" · http://{host}:{port}/docs",
        highlight=False,
    )
    app = create_app(service)
    gc.collect()
    gc.freeze()  # the long-lived objects of start-up stay out of every later collection
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@admin.command("create-token")
def create_token(
    role: Annotated[str, typer.Option(help="operator, tenant or regulator.")],
    tenant: Annotated[str | None, typer.Option(help="The tenant (role tenant only).")] = None,
    label: Annotated[str, typer.Option(help="A note on what the token is for.")] = "",
    db: Db = None,
    scenario: Annotated[str, typer.Option(help="Scenario to seed a new database.")] = (
        "china-edwc"
    ),
) -> None:
    """Print a new API token (only its hash is stored)."""
    from suanli.scenario import load_scenario
    from suanli.service.schemas import Role
    from suanli.service.storage import Store, default_db_url, make_engine, migrate

    try:
        r = Role(role)
    except ValueError:
        raise _fail(
            SuanliError(f"--role: unknown role {role!r}; choose operator, tenant or regulator")
        ) from None
    if (r is Role.TENANT) != (tenant is not None):
        raise _fail(SuanliError("--tenant: give it with --role tenant, and only then"))
    engine = make_engine(db or default_db_url())
    try:
        migrate(engine)
        store = Store(engine)
        store.seed(load_scenario(scenario))
        if tenant is not None and store.tenant(tenant) is None:
            known = ", ".join(t["id"] for t in store.tenants())
            raise _fail(SuanliError(f"--tenant: unknown tenant {tenant!r}; known: {known}"))
        typer.echo(store.create_token(r.value, tenant, label))
    finally:
        engine.dispose()


@admin.command("rotate-ledger-key")
def rotate_ledger_key(
    reason: Annotated[
        str, typer.Option(help="Why (a schedule, a suspected compromise); sealed in the ledger.")
    ],
    new_key: Annotated[
        Path | None,
        typer.Option(
            help="Key file to rotate to (made, readable by you only, if it does not exist); "
            "restart every replica with --ledger-key on it. Default: a new key kept in the "
            "database."
        ),
    ] = None,
    old_key: Annotated[
        Path | None,
        typer.Option(
            help="The current key's file, if the service signs with --ledger-key (default: "
            "the key kept in the database)."
        ),
    ] = None,
    db: Db = None,
) -> None:
    """Rotate the key that signs the audit ledger's tree heads: the old key endorses the new
    one at the sealed tree size, and the rotation is sealed into the ledger."""
    from suanli.ledger import SigningKey
    from suanli.service.storage import Store, default_db_url, make_engine, migrate
    from suanli.service.storage.repo import LEDGER_KEY, RotationConflict

    engine = make_engine(db or default_db_url())
    try:
        migrate(engine)
        store = Store(engine)
        if store.key_history() is None:
            raise SuanliError("--db: the database has no key history yet: start the service once")
        if old_key is not None:
            old = SigningKey.load(old_key)
        else:
            seed = store.meta(LEDGER_KEY)
            if seed is None:
                raise SuanliError(
                    "--old-key: the database keeps no signing key (the service signs with a "
                    "key file): pass that file"
                )
            old = SigningKey.from_seed(bytes.fromhex(seed))
        if new_key is None:
            new = SigningKey.generate()
        elif new_key.exists():
            new = SigningKey.load(new_key)
        else:
            new = SigningKey.generate()
            new.save(new_key)
            err.print(f"wrote a new key to {new_key}", highlight=False)
        try:
            history = store.rotate_ledger_key(old, new, new_key is None, reason, "admin-cli")
        except RotationConflict as exc:
            raise SuanliError(f"--old-key: {exc}") from None
    except SuanliError as exc:
        raise _fail(exc) from None
    finally:
        engine.dispose()
    cur = history.current
    typer.echo(
        f"rotated: key {history.keys[-2].key_id} -> {cur.key_id} at tree size {cur.valid_from}"
    )
    if new_key is not None:
        typer.echo(f"restart every replica with --ledger-key {new_key}")


def _client(url: str | None, token: str | None) -> Any:
    from suanli.service.client import SuanliClient

    return SuanliClient(url, token)


def _call(fn: Any, *args: Any, **kw: Any) -> Any:
    import httpx

    try:
        return fn(*args, **kw)
    except (SuanliError, httpx.HTTPError) as exc:
        raise _fail(exc) from None


def submit(
    file: Annotated[Path, typer.Argument(help="Job document (YAML or JSON).")],
    idempotency_key: Annotated[str | None, typer.Option(help="Retry-safe submission key.")] = None,
    priority_class: Annotated[
        str | None,
        typer.Option(help="Priority class of the job (sets spec.priorityClass in the document)."),
    ] = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """Submit a job; prints its id and state."""
    try:
        doc = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(SuanliError(f"{file}: {exc}")) from None
    if priority_class is not None:
        if not isinstance(doc, dict) or not isinstance(doc.get("spec"), dict):
            raise _fail(SuanliError(f"{file}: not a job document (no spec mapping)"))
        doc["spec"]["priorityClass"] = priority_class
    with _client(url, token) as c:
        job = _call(c.submit, doc, idempotency_key)
    typer.echo(f"{job['id']}  {job['status']['state']}")


def jobs(
    state: Annotated[list[str] | None, typer.Option(help="Only jobs in this state.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's jobs.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: Url = None,
    token: Token = None,
) -> None:
    """List jobs."""
    with _client(url, token) as c:
        page = _call(c.jobs, state=state, tenant=tenant, limit=limit)
    if as_json:
        typer.echo(json.dumps(page))
        return
    table = Table("ID", "NAME", "TENANT", "STATE", "SITE", "ACCELERATOR", "REASON")
    for j in page["items"]:
        s = j["status"]
        table.add_row(
            j["id"],
            j["metadata"]["name"],
            j["metadata"]["tenant"],
            s["state"],
            s["site"] or "",
            s["accelerator"] or "",
            s["reason"][:60],
        )
    Console().print(table)


def job(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Show a job and its history (YAML)."""
    with _client(url, token) as c:
        doc = _call(c.job, job_id)
        doc["events"] = _call(c.events, job_id)
    typer.echo(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def cancel(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Cancel a job."""
    with _client(url, token) as c:
        j = _call(c.cancel, job_id)
    typer.echo(f"{j['id']}  {j['status']['state']}")


def sites(url: Url = None, token: Token = None) -> None:
    """List sites and their pools."""
    with _client(url, token) as c:
        rows = _call(c.sites)
    table = Table("SITE", "NAME", "HUB", "JURISDICTION", "STATE", "HEALTH", "ACCELERATORS", "POOLS")
    for s in rows:
        pools = ", ".join(f"{p['accelerators']}x{p['accelerator']}" for p in s["pools"])
        table.add_row(
            s["id"],
            s["name"],
            s["hub"],
            s["jurisdiction"],
            s["state"],
            s.get("health", "up"),
            str(s["accelerators"]),
            pools,
        )
    Console().print(table)


@classes.command("list")
def list_classes(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: Url = None,
    token: Token = None,
) -> None:
    """List the priority classes."""
    with _client(url, token) as c:
        rows = _call(c.priority_classes)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("NAME", "VALUE", "PREEMPTION POLICY", "DEFAULT", "DESCRIPTION")
    for r in rows:
        table.add_row(
            r["name"],
            str(r["value"]),
            r["preemptionPolicy"],
            "yes" if r["globalDefault"] else "",
            r["description"],
        )
    Console().print(table)


@classes.command("create")
def create_class(
    name: Annotated[str, typer.Argument(help="The class's name.")],
    value: Annotated[int, typer.Option(help="Its priority, -1000..1000 (higher goes first).")],
    never: Annotated[
        bool, typer.Option("--never", help="preemptionPolicy Never: wait, do not preempt.")
    ] = False,
    default: Annotated[
        bool, typer.Option("--default", help="The class of jobs that name no priority.")
    ] = False,
    description: Annotated[str, typer.Option(help="What the class is for.")] = "",
    url: Url = None,
    token: Token = None,
) -> None:
    """Create a priority class (operators)."""
    body = {
        "name": name,
        "value": value,
        "preemptionPolicy": "Never" if never else "PreemptLowerPriority",
        "globalDefault": default,
        "description": description,
    }
    with _client(url, token) as c:
        made = _call(c.create_priority_class, body)
    typer.echo(f"{made['name']}  {made['value']}  {made['preemptionPolicy']}")


@classes.command("delete")
def delete_class(
    name: Annotated[str, typer.Argument(help="The class's name.")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Delete a priority class (jobs that named it keep their priority)."""
    with _client(url, token) as c:
        _call(c.delete_priority_class, name)
    typer.echo(f"{name}  deleted")


#: the CSV columns ``site-energy set`` reads by default (the API's units)
PRICE_COLUMN, CARBON_COLUMN = "price_yuan_per_kwh", "carbon_kg_per_kwh"


def energy_body(
    file: Path,
    price_column: str | None = None,
    carbon_column: str | None = None,
    price_scale: float = 1.0,
    carbon_scale: float = 1.0,
    price_source: str | None = None,
    carbon_source: str | None = None,
) -> dict[str, Any]:
    """The body of ``PUT /v1/sites/{id}/energy`` from a file: a JSON file is the body itself;
    a CSV (optionally .gz) has a ``datetime_utc`` column of consecutive whole UTC hours and a
    price and/or a carbon column (each x its scale, into yuan/kWh and kgCO2/kWh), and each
    column read needs its source. Raises `InputError` naming the file and the problem."""
    from suanli.errors import InputError
    from suanli.scenario.series import read_hourly_csv

    if file.suffix == ".json":
        try:
            doc = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(str(file), f"not a readable JSON document ({exc})") from None
        if not isinstance(doc, dict):
            raise InputError(str(file), "the JSON document must be an object")
        return dict(doc)
    try:
        first, table = read_hourly_csv(file)
    except (OSError, ValueError, IndexError) as exc:
        raise InputError(str(file), f"not an hourly CSV ({exc})") from None
    wanted = [
        ("priceYuanPerKwh", price_column, PRICE_COLUMN, price_scale, price_source, "--price"),
        ("carbonKgPerKwh", carbon_column, CARBON_COLUMN, carbon_scale, carbon_source, "--carbon"),
    ]
    body: dict[str, Any] = {}
    for field, given, default, scale, source, flag in wanted:
        column = given or default
        if column not in table:
            if given is not None:
                raise InputError(str(file), f"no column {column!r}", f"it has {', '.join(table)}")
            continue
        if not source:
            raise InputError(
                f"{flag}-source",
                f"column {column!r} has no source",
                "say where the figures come from, or 'estimate'",
            )
        body[field] = {
            "start": first.isoformat(),
            "values": [float(v) * scale for v in table[column]],
            "source": source,
        }
    if not body:
        raise InputError(
            str(file),
            f"no column {PRICE_COLUMN!r} or {CARBON_COLUMN!r}",
            "name yours with --price-column / --carbon-column",
        )
    return body


@energy.command("set")
def set_energy(
    site: Annotated[str, typer.Argument(help="The site's id.")],
    file: Annotated[
        Path,
        typer.Argument(
            help="The series: a JSON body of PUT /v1/sites/{id}/energy, or an hourly CSV "
            "(.csv, .csv.gz) with a datetime_utc column of consecutive UTC hours."
        ),
    ],
    price_column: Annotated[
        str | None, typer.Option(help=f"CSV column of prices (default {PRICE_COLUMN}).")
    ] = None,
    carbon_column: Annotated[
        str | None, typer.Option(help=f"CSV column of carbon (default {CARBON_COLUMN}).")
    ] = None,
    price_scale: Annotated[
        float, typer.Option(help="Multiplies the price column into yuan/kWh.")
    ] = 1.0,
    carbon_scale: Annotated[
        float, typer.Option(help="Multiplies the carbon column into kgCO2/kWh (g: 0.001).")
    ] = 1.0,
    price_source: Annotated[
        str | None, typer.Option(help="Where the prices come from, or 'estimate'.")
    ] = None,
    carbon_source: Annotated[
        str | None, typer.Option(help="Where the carbon figures come from, or 'estimate'.")
    ] = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """Attach hourly price and carbon series to a site (operators); replaces what was there."""
    try:
        body = energy_body(
            file,
            price_column,
            carbon_column,
            price_scale,
            carbon_scale,
            price_source,
            carbon_source,
        )
    except SuanliError as exc:
        raise _fail(exc) from None
    with _client(url, token) as c:
        got = _call(c.set_site_energy, site, body)
    _print_energy(got)


@energy.command("show")
def show_energy(
    site: Annotated[str, typer.Argument(help="The site's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, with the values.")] = False,
    url: Url = None,
    token: Token = None,
) -> None:
    """Show the series attached to a site, with their sources."""
    with _client(url, token) as c:
        got = _call(c.site_energy, site)
    if as_json:
        typer.echo(json.dumps(got))
        return
    _print_energy(got)


@energy.command("clear")
def clear_energy(
    site: Annotated[str, typer.Argument(help="The site's id.")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Detach a site's series: back to its flat price and carbon (operators)."""
    with _client(url, token) as c:
        _call(c.clear_site_energy, site)
    typer.echo(f"{site}  flat price and carbon")


def _print_energy(got: dict[str, Any]) -> None:
    table = Table("KIND", "UNIT", "START (UTC)", "END (UTC)", "HOURS", "SOURCE")
    for key, kind, unit in (
        ("priceYuanPerKwh", "price", "yuan/kWh"),
        ("carbonKgPerKwh", "carbon", "kgCO2/kWh"),
    ):
        s = got.get(key)
        if s is None:
            table.add_row(kind, unit, "–", "–", "–", "flat figure (no series)")
        else:
            start, end = (_utc_hour(s["start"]), _utc_hour(s["end"]))
            table.add_row(kind, unit, start, end, str(s["hours"]), s["source"])
    Console().print(table)


def _utc_hour(value: str) -> str:
    from datetime import UTC, datetime

    return (
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        .astimezone(UTC)
        .strftime("%Y-%m-%d %H:%M")
    )


def register(app: typer.Typer) -> None:
    """Add the control plane's commands to the ``suanli`` command line."""
    app.command()(serve)
    app.add_typer(admin, name="admin")
    app.add_typer(classes, name="priority-class")
    app.add_typer(energy, name="site-energy")
    for fn in (submit, jobs, job, cancel, sites):
        app.command()(fn)

"""Job files: Suanli's job schema (CSV or Parquet) and Alibaba's openb pod lists.

The job schema, one row per job (docs/workload.md has the full table):

    id, tenant, kind, accelerators, types, duration_h, arrival_h, deadline_h, latency_slo_ms,
    data_site, data_size_gb, classification, users_site, priority, gang,
    model_id, public_facing, generative, people, sensitive_people, priority_class, span

``types`` is '|'-separated; ``deadline_h``, ``latency_slo_ms``, ``users_site``, ``priority``
and ``gang`` may be empty (None, None, None, 0, true); an empty ``types`` means any type the
scenario's sites hold. The governance columns ``model_id``, ``public_facing``, ``generative``,
``people`` and ``sensitive_people`` are optional, as columns and as cells (None, false, true,
None (unknown), 0); people counts are whole numbers >= 0. ``priority_class`` names a class
of the scenario's ``queueing.priorityClasses`` and sets the priority (a row gives one or the
other); a row with neither gets the scenario's default class, if it has one. ``span`` (optional,
default ``pool``) is ``pool`` or ``hub``: ``hub`` lets a training or fine-tuning gang of more
than one accelerator split across the sites of a hub the scenario allows
(``network.crossSiteGangs``; simulator only, docs/queueing.md). A file whose
header is the openb pod list (name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec,
qos, pod_phase, creation_time, deletion_time, scheduled_time) is mapped to jobs by the rule
in `_OpenbRow`.
Errors are `WorkloadError`s naming file, row (the header is row 1) and column.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from suanli.core.queueing.quota import PriorityClass
from suanli.errors import WorkloadError
from suanli.model.jobs import SPANS, Classification, DataAsset, Job, JobKind
from suanli.model.network import Scenario

T = TypeVar("T")

COLUMNS = (
    "id", "tenant", "kind", "accelerators", "types", "duration_h", "arrival_h", "deadline_h",
    "latency_slo_ms", "data_site", "data_size_gb", "classification", "users_site", "priority",
    "gang", "model_id", "public_facing", "generative", "people", "sensitive_people",
    "priority_class", "span",
)  # fmt: skip
OPTIONAL = frozenset(
    {"deadline_h", "latency_slo_ms", "users_site", "priority", "gang", "model_id",
     "public_facing", "generative", "people", "sensitive_people", "priority_class", "span"}
)  # fmt: skip
#: openb pod-list columns; the first five are enough (some variants carry only those)
OPENB_COLUMNS = (
    "name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase",
    "creation_time", "deletion_time", "scheduled_time",
)  # fmt: skip
OPENB_REQUIRED = OPENB_COLUMNS[:5]
#: duration given to pods of the variants without times (EST)
OPENB_DEFAULT_DURATION_H = 1.0

#: openb GPU models -> catalog types (G1-G3 are undisclosed Alibaba models: no constraint)
OPENB_TYPES = {
    "V100M16": "V100",
    "V100M32": "V100",
    "P100": "V100",
    "T4": "T4",
    "A10": "L40S",
}
#: latency SLO given to openb latency-sensitive (LS) pods (EST, middle of the generator's range)
OPENB_SLO_MS = 25.0
OPENB_PRIORITY = {"LS": 2, "Guaranteed": 1, "Burstable": 1, "BE": 0}
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


# ---------------------------------------------------------------- reading


def load_workload(
    path: str | Path,
    scenario: Scenario,
    *,
    tenant: str | None = None,
    site: str | None = None,
) -> list[Job]:
    """Jobs from a CSV or Parquet file in the job schema or the openb pod-list format.

    ``tenant`` and ``site`` only matter for openb files, which name neither: their jobs belong
    to ``tenant`` (default: the scenario's first tenant) and their data and users are at
    ``site`` (default: the scenario's first site).
    """
    path = Path(path)
    header, rows = _read_rows(path)
    if set(OPENB_REQUIRED) <= set(header):
        mapper: Callable[[_Cells], Job | None] = _OpenbRow(scenario, tenant, site)
    else:
        missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL]
        if missing:
            raise WorkloadError(
                f"{path.name}: row 1",
                f"missing column(s) {', '.join(missing)}",
                f"a job file has columns {', '.join(COLUMNS)} (or is an openb pod list)",
            )
        unknown = [c for c in header if c not in COLUMNS]
        if unknown:
            raise WorkloadError(
                f"{path.name}: row 1", f"unknown column(s) {', '.join(unknown)}",
                f"known columns: {', '.join(COLUMNS)}",
            )  # fmt: skip
        mapper = _JobRow(scenario)
    jobs: list[Job] = []
    seen: set[str] = set()
    for number, values in rows:
        cells = _Cells(path.name, number, values)
        job = mapper(cells)
        if job is None:
            continue
        if job.id in seen:
            raise cells.error("id" if "id" in values else "name", f"duplicate job id {job.id!r}")
        seen.add(job.id)
        jobs.append(job)
    return jobs


def _read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """(header, iterator of (row number, {column: value})) for a CSV or Parquet file."""
    if not path.is_file():
        raise WorkloadError(str(path), "no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises several unrelated types
            raise WorkloadError(path.name, f"cannot read Parquet: {e}") from None
        columns = table.column_names
        data = table.to_pydict()
        n = table.num_rows
        return columns, ((i + 2, {c: data[c][i] for c in columns}) for i in range(n))
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if not header:
            raise WorkloadError(f"{path.name}: row 1", "the file is empty (no header)")
        reader.fieldnames = header
        rows: list[tuple[int, dict[str, Any]]] = []
        for values in reader:
            if None in values:
                raise WorkloadError(
                    f"{path.name}: row {reader.line_num}",
                    f"more cells than the {len(header)} columns of the header",
                )
            rows.append((reader.line_num, values))
    return header, iter(rows)


class _Cells:
    """Typed access to one row's cells, raising `WorkloadError` with file, row and column."""

    def __init__(self, file: str, row: int, values: Mapping[str, Any]) -> None:
        self.file, self.row, self.values = file, row, values

    def error(self, column: str, problem: str, hint: str | None = None) -> WorkloadError:
        return WorkloadError(f"{self.file}: row {self.row}, column {column}", problem, hint)

    def raw(self, column: str) -> Any:
        value = self.values.get(column)
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def text(self, column: str) -> str:
        value = self.raw(column)
        if value is None:
            raise self.error(column, "must not be empty")
        return str(value)

    def opt_text(self, column: str) -> str | None:
        value = self.raw(column)
        return None if value is None else str(value)

    def number(self, column: str, *, minimum: float | None = None, strict: bool = False) -> float:
        value = self.opt_number(column, minimum=minimum, strict=strict)
        if value is None:
            raise self.error(column, "must not be empty")
        return value

    def opt_number(
        self, column: str, *, minimum: float | None = None, strict: bool = False
    ) -> float | None:
        value = self.raw(column)
        if value is None:
            return None
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise self.error(column, f"must be a number, got {value!r}") from None
        if x != x or x in (float("inf"), float("-inf")):
            raise self.error(column, f"must be a finite number, got {value!r}")
        if minimum is not None and (x <= minimum if strict else x < minimum):
            op = ">" if strict else ">="
            raise self.error(column, f"must be {op} {minimum:g}, got {x:g}")
        return x

    def flag(self, column: str, default: bool) -> bool:
        value = self.raw(column)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        word = str(value).lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise self.error(column, f"must be true or false, got {value!r}")

    def choice(self, column: str, known: Mapping[str, T] | Any, what: str) -> str:
        value = self.text(column)
        if value not in known:
            names = ", ".join(sorted(str(k) for k in known))
            raise self.error(column, f"unknown {what} {value!r}", f"known: {names}")
        return value


def _enum_value(cells: _Cells, column: str, enum: type[Any]) -> Any:
    value = cells.text(column)
    try:
        return enum(value)
    except ValueError:
        names = ", ".join(e.value for e in enum)
        raise cells.error(column, f"must be one of {names}, got {value!r}") from None


def _scenario_types(scenario: Scenario) -> tuple[str, ...]:
    present = {p.accelerator for s in scenario.sites.values() for p in s.pools}
    return tuple(t for t in scenario.catalog if t in present)


class _JobRow:
    """A row of the job schema -> a `Job`, with every check the schema promises."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.any_type = _scenario_types(scenario)
        # a set: `name in catalog` raises UnknownNameError instead of answering False
        self.known_types = set(scenario.catalog)

    def __call__(self, c: _Cells) -> Job:
        s = self.scenario
        accelerators = c.number("accelerators", minimum=0, strict=True)
        if accelerators > 1 and accelerators != int(accelerators):
            raise c.error("accelerators", f"above 1 must be a whole number, got {accelerators:g}")
        types_text = c.opt_text("types")
        types = tuple(t.strip() for t in types_text.split("|")) if types_text else self.any_type
        for t in types:
            if t not in self.known_types:
                raise c.error(
                    "types",
                    f"unknown accelerator type {t!r}",
                    f"known: {', '.join(sorted(s.catalog))}",
                )
        arrival = c.number("arrival_h", minimum=0)
        deadline = c.opt_number("deadline_h")
        if deadline is not None and deadline < arrival:
            raise c.error("deadline_h", f"must be >= arrival_h ({arrival:g}), got {deadline:g}")
        users = c.opt_text("users_site")
        if users is not None:
            users = c.choice("users_site", s.sites, "site")
        priority = c.opt_number("priority")
        if priority is not None and priority != int(priority):
            raise c.error("priority", f"must be a whole number, got {priority:g}")
        klass = self._priority_class(c, priority is not None)
        if klass is not None:
            priority = klass.value
        people = _opt_count(c, "people")
        sensitive = _opt_count(c, "sensitive_people")
        kind = _enum_value(c, "kind", JobKind)
        gang = c.flag("gang", True)
        span = _span(c, kind, accelerators, gang)
        return Job(
            id=c.text("id"),
            tenant=c.choice("tenant", s.tenants, "tenant"),
            kind=kind,
            accelerators=accelerators,
            types=types,
            duration_h=c.number("duration_h", minimum=0, strict=True),
            arrival_h=arrival,
            data=DataAsset(
                site=c.choice("data_site", s.sites, "site"),
                size_gb=c.number("data_size_gb", minimum=0),
                classification=_enum_value(c, "classification", Classification),
                people=people,
                sensitive_people=sensitive or 0,
            ),
            deadline_h=deadline,
            latency_slo_ms=c.opt_number("latency_slo_ms", minimum=0, strict=True),
            users_site=users,
            priority=int(priority or 0),
            gang=gang,
            model_id=c.opt_text("model_id"),
            public_facing=c.flag("public_facing", False),
            generative=c.flag("generative", True),
            priority_class=None if klass is None else klass.name,
            preempts=True if klass is None else klass.preempts,
            span=span,
        )

    def _priority_class(self, c: _Cells, has_priority: bool) -> PriorityClass | None:
        """The row's priority class: the one it names, else the scenario's default class
        for a row without a priority, else None."""
        config = self.scenario.queueing
        classes = {} if config is None else config.priority_classes
        name = c.opt_text("priority_class")
        if name is None:
            if config is None or config.default_class is None or has_priority:
                return None
            return classes[config.default_class]
        if has_priority:
            raise c.error("priority_class", "give priority or priority_class, not both")
        if name not in classes:
            known = ", ".join(sorted(classes)) or "none: the scenario's queueing defines none"
            raise c.error("priority_class", f"unknown priority class {name!r}", f"known: {known}")
        return classes[name]


def _span(c: _Cells, kind: JobKind, accelerators: float, gang: bool) -> str:
    """The row's ``span``: ``pool`` (empty cell) or ``hub``, which only a training or
    fine-tuning gang of more than one accelerator may ask for."""
    span = c.opt_text("span") or "pool"
    if span not in SPANS:
        raise c.error("span", f"must be one of {', '.join(SPANS)}, got {span!r}")
    if span == "hub":
        if kind not in (JobKind.TRAIN, JobKind.FINETUNE):
            raise c.error(
                "span", f"a {kind.value} job cannot span sites",
                "only train and finetune gangs may (synchronous training); use span pool",
            )  # fmt: skip
        if not gang or accelerators <= 1:
            raise c.error(
                "span", "only a gang of more than one accelerator can span sites",
                "set gang true and accelerators > 1, or span pool",
            )  # fmt: skip
    return span


def _opt_count(c: _Cells, column: str) -> int | None:
    """A whole number of people >= 0, or None for an empty cell."""
    x = c.opt_number(column, minimum=0)
    if x is None:
        return None
    if x != int(x):
        raise c.error(column, f"must be a whole number, got {x:g}")
    return int(x)


class _OpenbRow:
    """An openb pod -> a `Job`.

    Rule (docs/workload.md): the pod name is the id; CPU-only pods (``num_gpu`` 0) are skipped;
    one GPU asks for ``gpu_milli`` / 1000 of a GPU, more ask for ``num_gpu`` whole GPUs as a
    gang. Kind: qos LS with at most one GPU -> online inference; two or more GPUs ->
    fine-tuning; otherwise batch inference (a missing qos counts as BE). ``gpu_spec`` models map
    by OPENB_TYPES (none -> any type the scenario holds). Arrival = creation_time / 3600;
    duration = (deletion_time - scheduled_time, or - creation_time when never scheduled) / 3600,
    at least one second; variants without times get arrival 0 and OPENB_DEFAULT_DURATION_H.
    Online pods get deadline = arrival + duration and an SLO of OPENB_SLO_MS from the data
    site; others have no deadline. Priority by qos (OPENB_PRIORITY). Data: 1 GB of general
    data at the data site.
    """

    def __init__(self, scenario: Scenario, tenant: str | None, site: str | None) -> None:
        self.scenario = scenario
        self.tenant = tenant or next(iter(scenario.tenants))
        self.site = site or next(iter(scenario.sites))
        if self.tenant not in scenario.tenants:
            raise WorkloadError("load_workload", f"unknown tenant {self.tenant!r}")
        if self.site not in scenario.sites:
            raise WorkloadError("load_workload", f"unknown site {self.site!r}")
        self.any_type = _scenario_types(scenario)

    @staticmethod
    def _times(c: _Cells) -> tuple[float, float]:
        """(arrival_h, duration_h) of a pod."""
        if "creation_time" not in c.values:
            return 0.0, OPENB_DEFAULT_DURATION_H
        created = c.number("creation_time", minimum=0)
        deleted = c.number("deletion_time", minimum=0)
        scheduled = c.opt_number("scheduled_time", minimum=0)
        began = created if scheduled is None else scheduled
        if deleted < began:
            raise c.error("deletion_time", f"must be >= {began:g} (start), got {deleted:g}")
        return created / 3600.0, max(deleted - began, 1.0) / 3600.0

    def _types(self, c: _Cells) -> tuple[str, ...]:
        spec = c.opt_text("gpu_spec")
        if not spec:
            return self.any_type
        mapped = {OPENB_TYPES.get(m.strip()) for m in spec.split("|")} - {None}
        chosen = tuple(t for t in self.scenario.catalog if t in mapped)
        return chosen or self.any_type

    def __call__(self, c: _Cells) -> Job | None:
        num_gpu = c.number("num_gpu", minimum=0)
        if num_gpu != int(num_gpu):
            raise c.error("num_gpu", f"must be a whole number, got {num_gpu:g}")
        if num_gpu == 0:
            return None
        if num_gpu == 1:
            milli = c.number("gpu_milli", minimum=0, strict=True)
            if milli > 1000:
                raise c.error("gpu_milli", f"must be <= 1000 for one GPU, got {milli:g}")
            accelerators = milli / 1000.0
        else:
            accelerators = num_gpu
        qos = c.opt_text("qos") or "BE"
        arrival, duration = self._times(c)
        online = qos == "LS" and num_gpu <= 1
        kind = (
            JobKind.ONLINE_INFERENCE
            if online
            else JobKind.FINETUNE
            if num_gpu >= 2
            else JobKind.BATCH_INFERENCE
        )
        return Job(
            id=c.text("name"),
            tenant=self.tenant,
            kind=kind,
            accelerators=accelerators,
            types=self._types(c),
            duration_h=duration,
            arrival_h=arrival,
            data=DataAsset(self.site, 1.0, Classification.GENERAL),
            deadline_h=arrival + duration if online else None,
            latency_slo_ms=OPENB_SLO_MS if online else None,
            users_site=self.site if online else None,
            priority=OPENB_PRIORITY.get(qos, 0),
            gang=True,
        )


# ---------------------------------------------------------------- writing


def _record(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "tenant": job.tenant,
        "kind": job.kind.value,
        "accelerators": job.accelerators,
        "types": "|".join(job.types),
        "duration_h": job.duration_h,
        "arrival_h": job.arrival_h,
        "deadline_h": job.deadline_h,
        "latency_slo_ms": job.latency_slo_ms,
        "data_site": job.data.site,
        "data_size_gb": job.data.size_gb,
        "classification": job.data.classification.value,
        "users_site": job.users_site,
        "priority": job.priority,
        "gang": job.gang,
        "model_id": job.model_id,
        "public_facing": job.public_facing,
        "generative": job.generative,
        "people": job.data.people,
        "sensitive_people": job.data.sensitive_people,
        "priority_class": job.priority_class,
        "span": job.span,
    }


def save_workload(jobs: list[Job], path: str | Path) -> Path:
    """Write jobs in the job schema: Parquet for ``.parquet``/``.pq``, else CSV. Returns path."""
    path = Path(path)
    records = [_record(j) for j in jobs]
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema(
            [
                ("id", pa.string()), ("tenant", pa.string()), ("kind", pa.string()),
                ("accelerators", pa.float64()), ("types", pa.string()),
                ("duration_h", pa.float64()), ("arrival_h", pa.float64()),
                ("deadline_h", pa.float64()), ("latency_slo_ms", pa.float64()),
                ("data_site", pa.string()), ("data_size_gb", pa.float64()),
                ("classification", pa.string()), ("users_site", pa.string()),
                ("priority", pa.int64()), ("gang", pa.bool_()),
                ("model_id", pa.string()), ("public_facing", pa.bool_()),
                ("generative", pa.bool_()), ("people", pa.int64()),
                ("sensitive_people", pa.int64()), ("priority_class", pa.string()),
                ("span", pa.string()),
            ]
        )  # fmt: skip
        columns = {c: [r[c] for r in records] for c in COLUMNS}
        pq.write_table(pa.table(columns, schema=schema), path)
        return path
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in records:
            writer.writerow(
                [
                    ""
                    if r[c] is None
                    else ("true" if r[c] else "false")
                    if isinstance(r[c], bool)
                    else repr(r[c])
                    if isinstance(r[c], float)
                    else r[c]
                    for c in COLUMNS
                ]
            )
    return path

"""Reading the Alibaba GPU trace (openb node and pod lists, plain or gzipped CSV).

Errors name the file, the line and the column, and say what was expected.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from suanli.alloc import NodeCluster, TaskShape
from suanli.errors import InputError, WorkloadError

NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
_NO_MODEL = ("", "nan", "none")


@dataclass(frozen=True)
class NodeTable:
    """The cluster's nodes as read from a node list."""

    names: tuple[str, ...]
    cpu_milli: tuple[int, ...]
    memory_mib: tuple[int, ...]
    gpus: tuple[int, ...]
    models: tuple[str, ...]

    def cluster(self) -> NodeCluster:
        """A fresh, empty allocator over these nodes."""
        return NodeCluster(self.names, self.cpu_milli, self.memory_mib, self.gpus, self.models)

    @property
    def total_gpu_milli(self) -> int:
        """Milli-GPU capacity of all nodes."""
        return sum(self.gpus) * 1000


@dataclass(frozen=True)
class PodTable:
    """A pod list: names and shapes, sorted by pod name (the protocol's starting order)."""

    names: tuple[str, ...]
    shapes: tuple[TaskShape, ...]


def read_text(path: Path) -> str:
    """The text of a plain or gzipped file; WorkloadError naming the file when unreadable."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise WorkloadError(str(path), f"cannot read: {exc}") from exc


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    if missing:
        raise WorkloadError(
            f"{path}, line 1",
            f"missing column(s) {', '.join(missing)}",
            f"expected {', '.join(required)}",
        )
    for row in reader:
        yield reader.line_num, row


def _int(path: Path, line: int, row: dict[str, str], column: str, low: int = 0) -> int:
    value = (row.get(column) or "").strip()
    try:
        number = int(float(value)) if value and float(value).is_integer() else int(value)
    except ValueError:
        raise WorkloadError(
            f"{path}, line {line}, column {column}", f"{value!r} is not an integer"
        ) from None
    if number < low:
        raise WorkloadError(f"{path}, line {line}, column {column}", f"{number} is below {low}")
    return number


def read_nodes(path: str | Path) -> NodeTable:
    """Read a node list (columns sn, cpu_milli, memory_mib, gpu, model)."""
    p = Path(path)
    names: list[str] = []
    cpu: list[int] = []
    mem: list[int] = []
    gpus: list[int] = []
    models: list[str] = []
    for line, row in _rows(p, NODE_COLUMNS):
        name = (row.get("sn") or "").strip()
        if not name:
            raise WorkloadError(f"{p}, line {line}, column sn", "empty node name")
        if name in names:
            raise WorkloadError(f"{p}, line {line}, column sn", f"duplicate node name {name!r}")
        names.append(name)
        cpu.append(_int(p, line, row, "cpu_milli"))
        mem.append(_int(p, line, row, "memory_mib"))
        gpus.append(_int(p, line, row, "gpu"))
        model = (row.get("model") or "").strip()
        models.append("" if model.lower() in _NO_MODEL else model)
    if not names:
        raise WorkloadError(str(p), "no nodes", "the node list needs at least one data row")
    return NodeTable(tuple(names), tuple(cpu), tuple(mem), tuple(gpus), tuple(models))


def read_pods(path: str | Path) -> PodTable:
    """Read a pod list (name, cpu_milli, memory_mib, num_gpu, gpu_milli[, gpu_spec]) by name."""
    p = Path(path)
    rows: list[tuple[str, TaskShape]] = []
    for line, row in _rows(p, POD_COLUMNS):
        name = (row.get("name") or "").strip() or f"line-{line}"
        num_gpu = _int(p, line, row, "num_gpu")
        gpu_milli = _int(p, line, row, "gpu_milli")
        spec = (row.get("gpu_spec") or "").strip()
        types = () if spec.lower() in _NO_MODEL else tuple(t for t in spec.split("|") if t)
        cpu = _int(p, line, row, "cpu_milli")
        mem = _int(p, line, row, "memory_mib")
        try:
            shape = TaskShape(cpu, mem, num_gpu, gpu_milli if num_gpu else 0, types)
        except InputError as exc:
            raise WorkloadError(
                f"{p}, line {line}, columns num_gpu/gpu_milli", exc.problem, exc.hint
            ) from None
        rows.append((name, shape))
    if not rows:
        raise WorkloadError(str(p), "no pods", "the pod list needs at least one data row")
    rows.sort(key=lambda r: r[0])
    return PodTable(tuple(r[0] for r in rows), tuple(r[1] for r in rows))

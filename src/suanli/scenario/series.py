"""Hourly series for a site: time-of-use tariffs, modelled profiles, embedded files, lists.

Every builder returns ``hours`` values for the UTC hours ``start, start + 1 h, ...``. Errors
are plain `ValueError`s with the problem only; the loader adds the file and path.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np

from suanli.model.network import FloatArray
from suanli.scenario.schema import ModelledAroundMean, SeriesSpec, TimeOfUse


def data_dir() -> Path:
    """The package data folder (``suanli/data``)."""
    return Path(str(resources.files("suanli") / "data"))


def build_series(spec: SeriesSpec, start: datetime, hours: int, base_dir: Path) -> FloatArray:
    """The hourly values a `SeriesSpec` describes (read-only array of length ``hours``)."""
    if spec.time_of_use is not None:
        values = time_of_use(spec.time_of_use, start, hours)
    elif spec.modelled_around_mean is not None:
        values = modelled_around_mean(spec.modelled_around_mean, start, hours)
    elif spec.file is not None:
        assert spec.column is not None  # the schema requires it
        values = from_file(spec.file, spec.column, start, hours, base_dir) * spec.scale
    else:
        assert spec.values is not None  # the schema requires one of the four
        if len(spec.values) < hours:
            raise ValueError(f"needs {hours} hourly values (spec.hours), got {len(spec.values)}")
        values = np.asarray(spec.values[:hours], dtype=np.float64) * spec.scale
    values.setflags(write=False)
    return values


def _local_hours(start: datetime, hours: int, utc_offset: float) -> FloatArray:
    """Local hour of day (0 <= h < 24, fractional offsets allowed) of each UTC hour."""
    first = start.astimezone(UTC).hour + utc_offset
    return np.mod(first + np.arange(hours, dtype=np.float64), 24.0)


def time_of_use(tou: TimeOfUse, start: datetime, hours: int) -> FloatArray:
    """``base`` x the peak/flat/valley ratio of each local hour."""
    ratio = np.full(24, tou.flat)
    ratio[tou.peak_hours] = tou.peak
    ratio[tou.valley_hours] = tou.valley
    local = np.floor(_local_hours(start, hours, tou.utc_offset)).astype(np.int64)
    return tou.base * ratio[local]


def modelled_around_mean(m: ModelledAroundMean, start: datetime, hours: int) -> FloatArray:
    """A daily shape around ``mean``; the mean over whole days equals ``mean`` exactly.

    solar: 1 - a * max(0, sin(pi (h - 6) / 12)) (lowest at local noon, flat at night);
    wind: 1 - a * cos(2 pi (h - 3) / 24) (lowest at 03:00, when wind output peaks);
    flat: 1. Each shape is divided by its own 24-hour mean before scaling.
    """
    day = np.arange(24, dtype=np.float64)
    if m.profile == "solar":
        shape = 1.0 - m.amplitude * np.maximum(0.0, np.sin(np.pi * (day - 6.0) / 12.0))
    elif m.profile == "wind":
        shape = 1.0 - m.amplitude * np.cos(2.0 * np.pi * (day - 3.0) / 24.0)
    else:
        shape = np.ones(24)
    shape = shape / shape.mean()
    local = _local_hours(start, hours, m.utc_offset)
    return np.asarray(m.mean * np.interp(local, day, shape, period=24.0), dtype=np.float64)


def from_file(name: str, column: str, start: datetime, hours: int, base_dir: Path) -> FloatArray:
    """``hours`` values of ``column`` from an hourly CSV (optionally .gz), from UTC ``start``.

    The file has a ``datetime_utc`` column of consecutive whole UTC hours. ``name`` is relative
    to the package data folder, or else to ``base_dir`` (the scenario file's folder).
    """
    path = _find(name, base_dir)
    first, table = _read_table(str(path))
    if column not in table:
        raise ValueError(f"{name} has no column {column!r}; it has {', '.join(table)}")
    offset = (start.astimezone(UTC) - first) / timedelta(hours=1)
    values = table[column]
    if offset < 0 or offset + hours > len(values):
        last = first + timedelta(hours=len(values) - 1)
        raise ValueError(
            f"{name} covers {first:%Y-%m-%dT%H}Z..{last:%Y-%m-%dT%H}Z, which does not hold "
            f"{hours} hours from {start.astimezone(UTC):%Y-%m-%dT%H}Z"
        )
    return values[int(offset) : int(offset) + hours].copy()


def _find(name: str, base_dir: Path) -> Path:
    for folder in (data_dir(), base_dir):
        path = folder / name
        if path.is_file():
            return path
    raise ValueError(f"series file {name!r} not found in the package data or beside the scenario")


def read_hourly_csv(path: Path) -> tuple[datetime, dict[str, FloatArray]]:
    """An hourly CSV (optionally .gz) whose first column ``datetime_utc`` holds consecutive
    whole UTC hours: (its first hour, column -> read-only values)."""
    return _read_table(str(path))


@functools.lru_cache(maxsize=64)
def _read_table(path: str) -> tuple[datetime, dict[str, FloatArray]]:
    """Parse a series file once per process: (first UTC hour, column -> read-only values)."""
    raw = Path(path).read_bytes()
    text = gzip.decompress(raw).decode("utf-8") if path.endswith(".gz") else raw.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2 or rows[0][0] != "datetime_utc":
        raise ValueError(f"{Path(path).name}: the first column must be datetime_utc")
    header, body = rows[0], rows[1:]
    first = datetime.fromisoformat(body[0][0].replace("Z", "+00:00")).astimezone(UTC)
    last = datetime.fromisoformat(body[-1][0].replace("Z", "+00:00")).astimezone(UTC)
    if last - first != timedelta(hours=len(body) - 1):
        raise ValueError(f"{Path(path).name}: rows are not consecutive UTC hours")
    try:
        matrix = np.array([r[1:] for r in body], dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{Path(path).name}: non-numeric value ({e})") from None
    table: dict[str, FloatArray] = {}
    for i, col in enumerate(header[1:]):
        table[col] = np.ascontiguousarray(matrix[:, i])
        table[col].setflags(write=False)
    return first, table

"""Real job-trace statistics shipped in ``suanli/data/traces`` (see its README for licences).

- PAI 2020 job lengths (hours), 99,998 jobs (Alibaba PAI, CC BY 4.0, via umassos/GAIA, MIT);
- Microsoft Philly job runtimes (seconds), 83,154 jobs (via umassos/GAIA, MIT);
- per-cluster GPU-job statistics of Seren, Kalos (Acme, NSDI'24, CC BY 4.0), Philly, Helios, PAI.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io

import numpy as np

from suanli.model.network import FloatArray
from suanli.scenario.series import data_dir

#: a job's duration is clipped to this many hours (see docs/workload.md)
MAX_DURATION_H = 72.0
#: Philly runtimes under this are jobs that failed at start; they are left out
MIN_PHILLY_RUNTIME_S = 60.0


def _column(name: str) -> FloatArray:
    raw = gzip.decompress((data_dir() / "traces" / name).read_bytes()).decode("utf-8")
    values = np.loadtxt(io.StringIO(raw), skiprows=1, dtype=np.float64)
    return np.asarray(values, dtype=np.float64)


@functools.cache
def pai_lengths_h() -> FloatArray:
    """PAI job lengths in hours, clipped to [1 minute, MAX_DURATION_H]."""
    values = np.clip(_column("pai_lengths_h.csv.gz"), 1.0 / 60.0, MAX_DURATION_H)
    values.setflags(write=False)
    return values


@functools.cache
def philly_runtimes_h(min_hours: float = 0.0) -> FloatArray:
    """Philly runtimes in hours (those >= 60 s and >= ``min_hours``), clipped to the maximum."""
    seconds = _column("philly_runtime_s.csv.gz")
    hours = seconds[seconds >= MIN_PHILLY_RUNTIME_S] / 3600.0
    values = np.minimum(hours[hours >= min_hours], MAX_DURATION_H)
    values.setflags(write=False)
    return values


@functools.cache
def cluster_summary() -> dict[str, dict[str, float]]:
    """cluster -> statistic -> value, from ``cluster_summary.csv`` (empty cells left out)."""
    text = (data_dir() / "traces" / "cluster_summary.csv").read_text(encoding="utf-8")
    out: dict[str, dict[str, float]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        out[row["id"]] = {k: float(v) for k, v in row.items() if k != "id" and v}
    return out


def doubling_sizes(smallest: float, largest: float, mean: float) -> tuple[FloatArray, FloatArray]:
    """Sizes ``smallest * 2**k`` up to ``largest`` with p_k proportional to r**k, r fitted so the
    mean equals ``mean`` (the least-informative shape on a doubling ladder with that mean)."""
    sizes = smallest * 2.0 ** np.arange(round(np.log2(largest / smallest)) + 1)
    if not sizes[0] < mean < sizes[-1]:
        raise ValueError(f"mean {mean} is outside ({sizes[0]}, {sizes[-1]})")
    k = np.arange(len(sizes), dtype=np.float64)

    def mean_of(r: float) -> float:
        p = r**k
        return float((p * sizes).sum() / p.sum())

    lo, hi = 1e-6, 1e6
    for _ in range(200):  # bisection on log r; mean_of is increasing in r
        mid = float(np.sqrt(lo * hi))
        lo, hi = (mid, hi) if mean_of(mid) < mean else (lo, mid)
    p = lo**k
    return np.asarray(sizes, dtype=np.float64), np.asarray(p / p.sum(), dtype=np.float64)


@functools.cache
def pai_arrivals_h() -> FloatArray:
    """PAI arrival times in hours (the ``arrival_time`` column of ``pai-100k.csv``, in order;
    GAIA spread the 99,998 sampled jobs over one year)."""
    values = _column("pai_arrivals_h.csv.gz")
    values.setflags(write=False)
    return values

"""The paper's published unallocated-GPU table: reading it, writing ours alike, comparing."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from suanli.errors import WorkloadError
from suanli.frag.summary import Summary
from suanli.frag.trace import read_text

COLUMNS = ("trace", "policy", "arrived_pct", "mean_unallocated_gpu_pct", "sd", "seeds")


@dataclass(frozen=True)
class Comparison:
    """Published vs reproduced mean unallocated GPU % for one (trace, policy, arrival %)."""

    trace: str
    policy: str
    arrived_pct: int
    published: float
    reproduced: float

    @property
    def deviation(self) -> float:
        """Reproduced minus published, in percentage points."""
        return self.reproduced - self.published


def read_published(path: str | Path) -> dict[tuple[str, str, int], float]:
    """(trace, policy, arrived %) -> published mean unallocated GPU %."""
    p = Path(path)
    out: dict[tuple[str, str, int], float] = {}
    text = read_text(p)
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS[:4] if c not in (reader.fieldnames or [])]
    if missing:
        raise WorkloadError(f"{p}, line 1", f"missing column(s) {', '.join(missing)}")
    for row in reader:
        try:
            key = (row["trace"], row["policy"], int(row["arrived_pct"]))
            out[key] = float(row["mean_unallocated_gpu_pct"])
        except ValueError:
            raise WorkloadError(
                f"{p}, line {reader.line_num}", "arrived_pct or mean is not a number"
            ) from None
    return out


def table_csv(summaries: Sequence[Summary], points: Sequence[int] = (100, 130)) -> str:
    """Our results in the published table's layout (rows by arrival %, trace, policy)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for x in points:
        for s in summaries:
            writer.writerow(
                [s.trace, s.policy, x, f"{s.mean[x]:.2f}", f"{s.sd[x]:.2f}", len(s.seeds)]
            )
    return buf.getvalue()


def compare(
    summaries: Sequence[Summary], published: dict[tuple[str, str, int], float]
) -> list[Comparison]:
    """Every (trace, policy, arrival %) present both in ours and in the published table."""
    out = []
    for s in summaries:
        for x, value in s.mean.items():
            ref = published.get((s.trace, s.policy, x))
            if ref is not None and not math.isnan(value):
                out.append(Comparison(s.trace, s.policy, x, ref, value))
    return out

"""One row of the results table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Mean and sample sd over seeds of one (policy, trace): unallocated GPU % and speed."""

    policy: str
    trace: str
    seeds: tuple[int, ...]
    mean: dict[int, float]
    sd: dict[int, float]
    curve: tuple[float | None, ...]
    decisions_per_s: float

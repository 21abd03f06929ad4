"""A forward calendar of free accelerators per pool, in quarter-hour slots.

The planning view of capacity: running jobs occupy their slots until their planned end, and
planned (not yet started) jobs hold reservations. It is conservative (a job occupies every
slot it touches), so a plan that fits here fits in aggregate; whether it fits on nodes is
checked when the job starts.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

SLOTS_PER_HOUR = 4


class Calendar:
    def __init__(self, capacity: list[float], horizon_h: int) -> None:
        self.slots = horizon_h * SLOTS_PER_HOUR
        self.free: npt.NDArray[np.float64] = np.repeat(
            np.asarray(capacity, dtype=np.float64)[:, None], self.slots, axis=1
        )

    def span(self, start_h: float, end_h: float) -> tuple[int, int]:
        a = max(0, math.floor(start_h * SLOTS_PER_HOUR + 1e-9))
        b = min(self.slots, math.ceil(end_h * SLOTS_PER_HOUR - 1e-9))
        return a, max(b, a + 1)

    def min_free(self, pool: int, start_h: float, end_h: float) -> float:
        """The fewest free accelerators of ``pool`` in any slot of [start, end)."""
        a, b = self.span(start_h, end_h)
        return float(self.free[pool, a:b].min())

    def reserve(self, pool: int, start_h: float, end_h: float, amount: float) -> None:
        a, b = self.span(start_h, end_h)
        self.free[pool, a:b] -= amount

    def release(self, pool: int, start_h: float, end_h: float, amount: float) -> None:
        a, b = self.span(start_h, end_h)
        self.free[pool, a:b] += amount

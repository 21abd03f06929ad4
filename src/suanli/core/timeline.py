"""Hourly profiles of intervals."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def hourly_usage(start: F64, end: F64, amount: F64, row: I64, rows: int, hours: int) -> F64:
    """Amount-hours per (row, hour) of intervals [start, end): the exact overlap of each
    interval with each whole hour, times its amount. Times outside [0, hours) are cut off."""
    out = np.zeros((rows, hours + 1))
    for t, sign in ((start, 1.0), (end, -1.0)):
        tc = np.clip(t, 0, hours)
        hh = np.floor(tc).astype(np.int64)
        frac = tc - hh
        np.add.at(out, (row, hh), sign * amount * (1 - frac))
        np.add.at(out, (row, np.minimum(hh + 1, hours)), sign * amount * frac)
    return np.cumsum(out[:, :hours], axis=1)

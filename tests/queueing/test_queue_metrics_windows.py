"""The fairness windows' sums: prefix sums over sorted ends against a direct overlap per job."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.sim.queue_metrics import _per_window

INTERVAL = st.tuples(
    st.floats(0, 50, allow_nan=False), st.floats(0, 20, allow_nan=False), st.floats(0.1, 8)
).map(lambda t: (t[0], t[0] + t[1], t[2]))


@given(st.lists(INTERVAL, max_size=30), st.integers(1, 12), st.sampled_from([1.0, 6.0, 2.5]))
def test_each_window_gets_the_weighted_overlap_of_every_interval(
    intervals: list[tuple[float, float, float]], n: int, width: float
) -> None:
    edges = np.arange(n) * width
    direct = np.zeros(n)
    for s, e, a in intervals:
        direct += a * np.clip(np.minimum(edges + width, e) - np.maximum(edges, s), 0.0, None)
    assert _per_window(intervals, n, width) == pytest.approx(direct, abs=1e-6)


def test_a_hand_computed_case() -> None:
    # [1, 8) with weight 2 over windows of 6 h: 5 h in the first, 2 h in the second
    assert _per_window([(1.0, 8.0, 2.0)], 2, 6.0).tolist() == [10.0, 4.0]

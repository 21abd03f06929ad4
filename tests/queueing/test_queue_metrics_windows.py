"""The queue metrics: the fairness windows' sums (prefix sums over sorted ends against a direct
overlap per job), and each preemption matched to its own run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import job, scenario, site, tenants
from suanli.core.clock import ManualClock
from suanli.core.policies import make_policy
from suanli.core.policies.queueing.base import default_config
from suanli.core.scheduler import Preemption, Scheduler
from suanli.model import Pool
from suanli.sim.engine import run
from suanli.sim.queue_metrics import _per_window, count_quota_violations, queue_metrics

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


def test_a_run_restarted_in_the_instant_it_was_stopped_is_not_counted_twice() -> None:
    # j (8 A100, quota 8) starts at 0, is stopped at 0 (a reclaim in the cycle that started
    # it), starts again at 0 and is stopped at 1, then runs 1.5-3.5: three placements, the
    # first two with the same start, so a preemption must be matched to its own run
    s = tenants(scenario(site("a", pools=(Pool("A100", 2, 8),))), {"ta": 8})
    clock = ManualClock()
    sched = Scheduler(s, make_policy("kueue"), clock)
    (p,) = run(sched, clock, [job("j", gpus=8, duration=2.0).copy(tenant="ta")]).placements
    again = dataclasses.replace(p)
    later = dataclasses.replace(p, start_h=1.5, end_h=3.5)
    stops = [
        Preemption(p, 0.0, "room", 0.0, 0.0),
        Preemption(again, 1.0, "room", 0.0, 8.0),
    ]
    config = default_config(s)
    assert count_quota_violations([p, again, later], config, stops) == 0
    m = queue_metrics([p, again, later], {"ta": 1.0}, stops)
    assert (m.preemptions, m.wasted_gpu_h, m.max_wait_h, m.mean_jct_h) == (1, 8.0, 0.0, 3.5)
    assert m.per_tenant["ta"].gpu_h == pytest.approx(8.0 * 3.0)

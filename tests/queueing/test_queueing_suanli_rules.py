"""Suanli's own ordering and reclaim rules, table-driven, each test named after its rule."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.core.options import Option
from suanli.core.policies.queueing.suanli import (
    LONGEST_RUN_H,
    SuanliQueuePolicy,
    rule_overdue_first,
    rule_overdue_runs_are_not_reclaimed,
    rule_worth_the_wait,
)
from suanli.core.queueing.preemption import Running, rule_one_node_least_waste

# two nodes of 4 GPUs: node 0 has GPU 0 free, node 1 has GPUs 0 and 1 free
FREE = np.array([[1000, 0, 0, 0], [1000, 1000, 0, 0]], dtype=np.int64)


def held(job: str, start: float, gpus: int = 1) -> Running:
    return Running(job, "qb", "A100", gpus * 1000, 0, start)


# the running jobs: (node, GPU ids, milli per GPU) of each
HOLDINGS = {
    "old0": [(0, (1, 2, 3), 1000)],  # node 0, started at 0 h: 3 GPUs x 10 h lost
    "new1": [(1, (2,), 1000)],  # node 1, started at 9 h: 1 GPU x 1 h lost
    "mid1": [(1, (3,), 1000)],  # node 1, started at 6 h: 1 GPU x 4 h lost
}
RUNNING = [held("old0", 0.0, 3), held("new1", 9.0), held("mid1", 6.0)]


@pytest.mark.parametrize(
    ("num_gpu", "gpu_milli", "node", "victims"),
    [
        pytest.param(3, 1000, 1, ["new1"], id="the-node-where-one-short-victim-makes-room"),
        pytest.param(4, 1000, 1, ["new1", "mid1"], id="two-victims-on-one-node-beat-a-long-one"),
        pytest.param(5, 1000, None, [], id="no-node-can-hold-it"),
    ],
)
def test_rule_one_node_least_waste(
    num_gpu: int, gpu_milli: int, node: int | None, victims: list[str]
) -> None:
    found = rule_one_node_least_waste(FREE, num_gpu, gpu_milli, HOLDINGS, RUNNING, now=10.0)
    if node is None:
        assert found is None
    else:
        assert found is not None
        assert (found[0], [v.job_id for v in found[1]]) == (node, victims)


def test_rule_one_node_least_waste_does_not_count_room_on_other_nodes() -> None:
    """Freeing 3 GPUs on node 0 and 2 on node 1 is 5 in the pool, but a 4-GPU task needs one
    node: only node 1 (2 free + 2 victims) holds it."""
    found = rule_one_node_least_waste(FREE, 4, 1000, HOLDINGS, RUNNING, now=10.0)
    assert found is not None and found[0] == 1


@pytest.mark.parametrize(
    ("waited", "limit", "first"),
    [
        pytest.param(143.9, 144.0, False, id="not-yet-overdue"),
        pytest.param(144.0, 144.0, True, id="overdue-at-the-limit"),
    ],
)
def test_rule_overdue_first(waited: float, limit: float, first: bool) -> None:
    assert rule_overdue_first(waited, limit) is first


@pytest.mark.parametrize(
    ("started", "arrival", "reclaimable"),
    [
        pytest.param(150.0, 10.0, True, id="started-after-140-h"),
        pytest.param(154.0, 10.0, False, id="started-overdue"),
        pytest.param(200.0, 10.0, False, id="restarted-overdue-counts-from-arrival"),
    ],
)
def test_rule_overdue_runs_are_not_reclaimed(
    started: float, arrival: float, reclaimable: bool
) -> None:
    assert rule_overdue_runs_are_not_reclaimed(started, arrival, 144.0) is reclaimable


def test_the_aging_constants_follow_from_the_longest_run() -> None:
    from suanli.workload.traces import MAX_DURATION_H

    p = SuanliQueuePolicy()
    assert (LONGEST_RUN_H, p.aging_h, p.overdue_h) == (MAX_DURATION_H, 72.0, 144.0)


def option(site: str, ready: float, runtime: float, pool: int = 0) -> Option:
    return Option(site, 0, pool, "A100", runtime, 0.4, ready, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("options", "payback", "chosen"),
    [
        pytest.param([("near", 0.0, 8.0), ("far", 0.5, 1.0)], 4.0, "far", id="worth-waiting"),
        pytest.param([("near", 0.0, 1.2), ("far", 0.5, 1.0)], 1.0, "near", id="not-worth-waiting"),
        pytest.param([("near", 0.0, 3.5), ("far", 0.5, 1.0)], 1.0, "far", id="earlier-finish"),
        pytest.param(
            [("near", 0.0, 2.8), ("far", 0.5, 1.0)], 4.0, "near", id="saves-less-than-4x-the-wait"
        ),
        pytest.param([("near", 0.0, 3.1), ("far", 0.5, 1.0)], 4.0, "far", id="saves-more"),
        pytest.param([("b", 0.5, 1.0), ("a", 0.0, 1.5)], 1.0, "a", id="same-score-earlier-ready"),
        pytest.param(
            [("b", 0.0, 1.0), ("a", 0.0, 1.0)], 4.0, "a", id="same-score-and-ready-by-site"
        ),
        pytest.param(
            [("x", 1.0, 5.0), ("y", 1.5, 2.0), ("z", 1.0, 4.5)],
            4.0,
            "y",
            id="three-options",
        ),
    ],
)
def test_rule_worth_the_wait(
    options: list[tuple[str, float, float]], payback: float, chosen: str
) -> None:
    assert rule_worth_the_wait([option(*o) for o in options], payback).site == chosen


def test_the_default_payback_is_four() -> None:
    assert rule_worth_the_wait([option("near", 0.0, 2.8), option("far", 0.5, 1.0)]).site == "near"

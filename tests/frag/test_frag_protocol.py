"""The experiment protocol: submission order, workload tuning, the allocation curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from frag_builders import write_trace

from suanli.frag.protocol import allocation_curve, run_once, shuffled_cluster, submission_order
from suanli.frag.trace import read_nodes, read_pods


@pytest.fixture
def trace(tmp_path: Path):  # type: ignore[no-untyped-def]
    nodes_path, pods_path = write_trace(tmp_path)
    return read_nodes(nodes_path), read_pods(pods_path)


def test_tuning_fills_demand_up_to_but_not_past_the_ratio(tmp_path: Path) -> None:
    nodes_path, pods_path = write_trace(tmp_path, n=12)
    nodes, pods = read_nodes(nodes_path), read_pods(pods_path)
    order = submission_order(pods, nodes.total_gpu_milli, seed=42)
    demand = sum(s.total_gpu_milli for s in order)
    # the original's quirk: the stop test adds per-GPU milli, so a 2-GPU pod may overshoot 1000
    assert 1.3 * nodes.total_gpu_milli - 1000 < demand <= 1.3 * nodes.total_gpu_milli + 1000
    assert len(order) > len(pods.shapes)
    assert sorted(order[: len(pods.shapes)], key=repr) == sorted(pods.shapes, key=repr)


def test_tuning_down_removes_pods_until_demand_fits(trace) -> None:  # type: ignore[no-untyped-def]
    _, pods = trace
    order = submission_order(pods, 1000, seed=1)
    assert sum(s.total_gpu_milli for s in order) <= 1300


def test_the_order_depends_only_on_the_seed(trace) -> None:  # type: ignore[no-untyped-def]
    _, pods = trace
    assert submission_order(pods, 15000, 7) == submission_order(pods, 15000, 7)
    assert submission_order(pods, 15000, 7) != submission_order(pods, 15000, 8)


def test_node_names_get_a_seeded_permutation_prefix(trace) -> None:  # type: ignore[no-untyped-def]
    nodes, _ = trace
    names = shuffled_cluster(nodes, 42).names
    assert sorted(n[:4] for n in names) == ["0000", "0001", "0002", "0003"]
    assert [n[5:] for n in names] == list(nodes.names)


def test_the_curve_averages_attempts_per_rounded_arrival_percent() -> None:
    # capacity 1000: attempts at arrived 4, 6 (-> 0%, 1%), 14, 16 (-> 1%, 2%)
    arrived = np.array([4, 6, 14, 16])
    used = np.array([4, 6, 10, 10])
    curve = allocation_curve(arrived, used, 1000)
    assert curve[0] == pytest.approx(0.4)
    assert curve[1] == pytest.approx((0.6 + 1.0) / 2)
    assert curve[2] == pytest.approx(1.0)
    assert curve[3] is None


@pytest.mark.parametrize(
    "policy", ["random", "dotprod", "gpuclustering", "gpupacking", "bestfit", "fgd", "suanli"]
)
def test_every_policy_runs_the_protocol(trace, policy: str) -> None:  # type: ignore[no-untyped-def]
    nodes, pods = trace
    result = run_once(nodes, pods, "tiny", policy, 42)
    points = [x for x, y in enumerate(result.curve) if y is not None]
    assert points and all(0.0 <= result.unallocated(x) <= 100.0 for x in points)
    assert result.decisions > 0

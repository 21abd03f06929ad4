"""The headroom bound: a relaxation that no placement beats, exact on hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from frag_builders import write_fine_trace

from suanli.alloc.packing_lp import best_pattern
from suanli.alloc.shapes import TaskShape
from suanli.frag.bound import unallocated_lower_bound, upper_bound, window_end
from suanli.frag.protocol import run_once
from suanli.frag.trace import NodeTable, read_nodes, read_pods


def one_gpu_node(cpu: int = 8000) -> NodeTable:
    return NodeTable(("n",), (cpu,), (65536,), (1,), ("T4",))


def test_the_pricing_knapsack_finds_the_best_gpu_contents() -> None:
    value, copies = best_pattern(np.array([1.0, 2.1, 3.0]), np.array([300, 500, 1000]))
    assert value == pytest.approx(4.2)
    assert copies == (0, 2, 0)


@pytest.mark.parametrize(
    ("gpu_only", "expected"),
    [
        # GPU sizes alone: two 470 pods (940) beat one 810 pod on the GPU.
        pytest.param(True, 940.0, id="gpu-sizes-only"),
        # 8 cores: 6 for the 810 pod, 5 for each 470 pod. The LP's optimum mixes half an 810
        # pod with one 470 pod (3000 + 5000 cores, half the GPU each): 405 + 470 = 875, above
        # the best real packing (810) and below the GPU-only value.
        pytest.param(False, 875.0, id="with-cpu-rows"),
    ],
)
def test_the_relaxation_value_on_one_gpu(gpu_only: bool, expected: float) -> None:
    pods = [TaskShape(6000, 1024, 1, 810)] + [TaskShape(5000, 1024, 1, 470)] * 2
    bound = upper_bound(pods, one_gpu_node(), gpu_only=gpu_only)
    assert bound.value == pytest.approx(expected)
    assert bound.value == pytest.approx(bound.restricted)


def test_pods_that_fit_no_node_type_add_nothing() -> None:
    pods = [TaskShape(6000, 1024, 1, 500, ("A100",)), TaskShape(9000, 1024, 1, 300)]
    assert upper_bound(pods, one_gpu_node()).value == pytest.approx(0.0)


def test_the_window_ends_at_the_last_attempt_that_rounds_to_100_percent() -> None:
    arrived = np.array([500, 990, 1004, 1006, 1200])
    assert window_end(arrived, 1000) == 3
    assert window_end(np.array([10, 20]), 1000) == 0


@pytest.mark.parametrize("policy", ["random", "bestfit", "fgd", "suanli"])
def test_no_policy_leaves_less_unallocated_than_the_bound(tmp_path: Path, policy: str) -> None:
    write_fine_trace(tmp_path)
    nodes = read_nodes(tmp_path / "openb_node_list_gpu_node.csv.gz")
    pods = read_pods(tmp_path / "openb_pod_list_fine.csv.gz")
    for seed in (42, 43):
        bound = unallocated_lower_bound(nodes, pods, seed)
        measured = run_once(nodes, pods, "fine", policy, seed).unallocated(100)
        assert 0.0 <= bound <= measured + 1e-9

"""The fragmentation measure on hand-computed nodes."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.alloc import NodeCluster, TargetWorkload, TaskShape

# Target workload: A = 500 milli of one GPU with 1 core (weight 3), B = one whole GPU with 4 cores
# (weight 1), C = CPU-only (weight 1, W = 5).
A = TaskShape(1000, 0, 1, 500)
B = TaskShape(4000, 0, 1, 1000)
C = TaskShape(2000, 0, 0, 0)
WORKLOAD = TargetWorkload.from_shapes([A, A, A, B, C], coverage=1.0)


def node(
    cpu: int, gpus: list[int], model: str = "T4"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    models = ("T4", "V100")
    return (
        np.array([cpu], np.int64),
        np.array([gpus], np.int64),
        np.array([models.index(model)], np.int64),
        models,
    )


@pytest.mark.parametrize(
    ("cpu", "gpus", "expected"),
    [
        # A fits (GPU0 >= 500): fragment = GPU1's 300; B fits: fragment = 300 (GPU1 < 1000);
        # C: all 1300. F = (3*300 + 1*300 + 1*1300) / 5 = 500.
        pytest.param(8000, [1000, 300], 500.0, id="one-free-one-partial"),
        # CPU 2000: A fits, B lacks CPU (all 1300), C all. F = (3*300 + 1300 + 1300) / 5 = 700.
        pytest.param(2000, [1000, 300], 700.0, id="cpu-short-for-whole-gpu"),
        # CPU 500: nothing fits: F = U = 1300.
        pytest.param(500, [1000, 300], 1300.0, id="cpu-short-for-everything"),
        # [400, 400]: A does not fit (all 800), B does not fit (800), C 800 -> F = 800.
        pytest.param(8000, [400, 400], 800.0, id="only-small-slivers"),
        # Fully used node: no idle GPU, no fragment.
        pytest.param(8000, [0, 0], 0.0, id="full-node"),
    ],
)
def test_node_fragmentation_matches_hand_computation(
    cpu: int, gpus: list[int], expected: float
) -> None:
    c, g, m, models = node(cpu, gpus)
    fm = WORKLOAD.bind(models)
    assert fm.scaled(c, g, m)[0] / fm.total_weight == pytest.approx(expected)


def test_a_model_constraint_makes_the_whole_node_fragment() -> None:
    only_v100 = TargetWorkload.from_shapes([TaskShape(1000, 0, 1, 500, ("V100",))], coverage=1.0)
    c, g, m, models = node(8000, [1000, 300], "T4")
    fm = only_v100.bind(models)
    assert fm.scaled(c, g, m)[0] / fm.total_weight == 1300.0


def test_cluster_fragmentation_sums_the_nodes() -> None:
    cluster = NodeCluster(["a", "b"], [8000, 500], [0, 0], [2, 2], ["T4", "T4"])
    cluster.allocate(TaskShape(0, 0, 1, 700), 0, (1,))
    cluster.allocate(TaskShape(0, 0, 1, 700), 1, (1,))
    # node a: CPU 8000, [1000, 300] -> 500; node b: CPU 500, [1000, 300] -> 1300.
    assert cluster.fragmentation(WORKLOAD) == pytest.approx(1800.0)


@pytest.mark.parametrize(
    ("coverage", "kept"),
    [
        pytest.param(0.5, 1, id="half-needs-the-top-shape"),
        pytest.param(0.8, 2, id="eighty-percent-needs-two"),
        pytest.param(1.0, 3, id="everything"),
    ],
)
def test_the_target_workload_keeps_the_most_popular_shapes(coverage: float, kept: int) -> None:
    tw = TargetWorkload.from_shapes([A, A, A, B, C], coverage=coverage)
    assert len(tw.shapes) == kept
    assert tw.shapes[0] == (1000, 500, 1, ())
    assert tw.weights[0] == 3

"""The allocator: placement, release, gangs and its invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.alloc import NodeCluster, TargetWorkload, TaskShape, make_policy
from suanli.errors import InputError, SchedulingError


def small_cluster() -> NodeCluster:
    return NodeCluster(
        ["n-a", "n-b", "n-c"],
        [16000, 32000, 8000],
        [65536, 131072, 32768],
        [2, 4, 0],
        ["T4", "V100", ""],
    )


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        pytest.param(
            {"num_gpu": 0, "gpu_milli": 500},
            "num_gpu=0 with gpu_milli=500",
            id="cpu-task-with-gpu-milli",
        ),
        pytest.param(
            {"num_gpu": 2, "gpu_milli": 500},
            "num_gpu=2 with gpu_milli=500",
            id="multi-gpu-fraction",
        ),
        pytest.param({"num_gpu": 1, "gpu_milli": 1001}, "need num_gpu >= 0", id="over-one-gpu"),
        pytest.param({"num_gpu": -1, "gpu_milli": 0}, "need num_gpu >= 0", id="negative-gpus"),
    ],
)
def test_a_task_shape_rejects_inconsistent_gpu_requests(
    kwargs: dict[str, int], problem: str
) -> None:
    with pytest.raises(InputError, match=problem):
        TaskShape(cpu_milli=1000, memory_mib=1024, **kwargs)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        pytest.param(
            TaskShape(1000, 1024, 1, 500), [True, True, False], id="sharing-fits-gpu-nodes"
        ),
        pytest.param(
            TaskShape(1000, 1024, 4, 1000),
            [False, True, False],
            id="four-gpus-only-on-the-big-node",
        ),
        pytest.param(TaskShape(20000, 1024, 0, 0), [False, True, False], id="cpu-bound"),
        pytest.param(
            TaskShape(1000, 1024, 1, 1000, ("T4",)), [True, False, False], id="model-constraint"
        ),
        pytest.param(TaskShape(1000, 40000, 0, 0), [True, True, False], id="memory-bound"),
    ],
)
def test_feasibility_checks_cpu_memory_gpus_and_model(
    shape: TaskShape, expected: list[bool]
) -> None:
    assert small_cluster().feasible(shape).tolist() == expected


def test_place_then_release_restores_the_exact_state() -> None:
    cluster = small_cluster()
    before = cluster.snapshot()
    alloc = cluster.place(TaskShape(2000, 4096, 1, 300), make_policy("bestfit"))
    assert alloc is not None
    assert cluster.free_gpu_milli() == 6000 - 300
    cluster.release(alloc)
    for a, b in zip(before, cluster.snapshot(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_place_returns_none_when_nothing_fits() -> None:
    assert (
        small_cluster().place(
            TaskShape(1000, 1024, 8, 1000), make_policy("fgd", target_workload=_tw())
        )
        is None
    )


def test_a_gang_is_all_or_nothing() -> None:
    cluster = small_cluster()
    before = cluster.snapshot()
    gang = [TaskShape(1000, 1024, 2, 1000)] * 3  # 6 whole GPUs: the cluster has 6, but n-a only 2
    assert cluster.place_gang(gang, make_policy("gpupacking")) is not None
    cluster2 = small_cluster()
    assert cluster2.place_gang([TaskShape(1000, 1024, 4, 1000)] * 2, make_policy("bestfit")) is None
    for a, b in zip(before, cluster2.snapshot(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("node", "gpus", "problem"),
    [
        pytest.param(5, (0,), "out of range", id="bad-node"),
        pytest.param(0, (0, 1), "needs 1 distinct GPUs", id="too-many-gpus"),
        pytest.param(0, (3,), "GPU 3 of node n-a", id="missing-gpu"),
        pytest.param(2, (0,), "does not fit node n-c|GPU 0 of node n-c", id="cpu-only-node"),
    ],
)
def test_allocate_refuses_what_does_not_fit(node: int, gpus: tuple[int, ...], problem: str) -> None:
    with pytest.raises(SchedulingError, match=problem):
        small_cluster().allocate(TaskShape(1000, 1024, 1, 500), node, gpus)


def test_release_refuses_to_exceed_capacity() -> None:
    cluster = small_cluster()
    alloc = cluster.allocate(TaskShape(1000, 1024, 1, 500), 0, (1,))
    cluster.release(alloc)
    with pytest.raises(SchedulingError, match="exceeds"):
        cluster.release(alloc)


def _tw() -> TargetWorkload:
    return TargetWorkload.from_shapes(
        [TaskShape(1000, 0, 1, 500), TaskShape(2000, 0, 1, 1000), TaskShape(4000, 0, 0, 0)]
    )


shapes = st.builds(
    lambda cpu, mem, kind, milli, count: (
        TaskShape(cpu, mem, 0, 0)
        if kind == 0
        else TaskShape(cpu, mem, 1, milli)
        if kind == 1
        else TaskShape(cpu, mem, count, 1000)
    ),
    st.integers(0, 20000),
    st.integers(0, 70000),
    st.integers(0, 2),
    st.integers(1, 1000),
    st.sampled_from([1, 2, 4]),
)


@settings(max_examples=60, deadline=None)
@given(
    tasks=st.lists(shapes, min_size=1, max_size=25),
    policy=st.sampled_from(
        ["random", "dotprod", "gpuclustering", "gpupacking", "bestfit", "fgd", "suanli"]
    ),
    order=st.randoms(use_true_random=False),
)
def test_allocation_never_exceeds_capacity_and_release_restores_state(
    tasks: list[TaskShape], policy: str, order: object
) -> None:
    cluster = small_cluster()
    before = cluster.snapshot()
    chooser = make_policy(policy, target_workload=_tw(), seed=1)
    allocs = [a for a in (cluster.place(t, chooser) for t in tasks) if a is not None]
    assert (cluster.gpu_free >= 0).all() and (cluster.gpu_free <= 1000).all()
    assert (cluster.cpu_free >= 0).all() and (cluster.mem_free >= 0).all()
    assert (cluster.gpu_free[~cluster.gpu_exists] == 0).all()
    order.shuffle(allocs)  # type: ignore[attr-defined]
    for a in allocs:
        cluster.release(a)
    for a, b in zip(before, cluster.snapshot(), strict=True):
        np.testing.assert_array_equal(a, b)

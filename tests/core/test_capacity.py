"""Node-level capacity of the network: jobs become node tasks; `fits` agrees with `allocate`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import job, scenario, site
from suanli.alloc import TaskShape
from suanli.core.capacity import NetworkCapacity, gang_fits, task_shapes
from suanli.model import Pool

POOL = Pool("A100", nodes=3, per_node=8, cpu_per_node=64, memory_gb_per_node=512)


@pytest.mark.parametrize(
    ("accelerators", "expected"),
    [
        pytest.param(0.25, [TaskShape(2000, 16384, 1, 250)], id="a-quarter-gpu-shares-one-gpu"),
        pytest.param(3, [TaskShape(24000, 196608, 3, 1000)], id="three-whole-gpus-on-one-node"),
        pytest.param(1.5, [TaskShape(16000, 131072, 2, 1000)], id="a-fraction-above-one-rounds-up"),
        pytest.param(
            20,
            [TaskShape(64000, 524288, 8, 1000)] * 2 + [TaskShape(32000, 262144, 4, 1000)],
            id="a-gang-is-full-nodes-plus-the-remainder",
        ),
    ],
)
def test_a_job_becomes_node_tasks_with_cpu_and_memory_in_proportion(
    accelerators: float, expected: list[TaskShape]
) -> None:
    assert task_shapes(accelerators, POOL) == expected


SIZES = st.sampled_from([0.25, 0.5, 1, 2, 3, 4, 8, 9, 16, 20, 24])


def loaded(load: list[float]) -> NetworkCapacity:
    """The pool with jobs of ``load`` accelerators placed in turn (those that fit)."""
    cap = NetworkCapacity(scenario(site("a", pools=(POOL,))))
    for k, a in enumerate(load):
        cap.allocate(0, 0, job(f"l{k}", gpus=a))
    return cap


@settings(max_examples=80, deadline=None)
@given(load=st.lists(SIZES, max_size=12), probe=SIZES)
def test_fits_says_yes_exactly_when_the_allocator_can_place_the_job(
    load: list[float], probe: float
) -> None:
    cap = loaded(load)
    j = job("probe", gpus=probe)
    fits = cap.fits(0, 0, j)
    before = [c.snapshot() for c in cap.clusters[0]]
    grant = cap.allocate(0, 0, j)
    assert fits == (grant is not None)
    if grant is not None:
        cap.release(grant)
    after = [c.snapshot() for c in cap.clusters[0]]
    for b, a in zip(before, after, strict=True):
        assert all((x == y).all() for x, y in zip(b, a, strict=True))


@settings(max_examples=80, deadline=None)
@given(load=st.lists(SIZES, max_size=12), probe=st.sampled_from([9, 16, 20, 24]))
def test_gang_fits_judges_a_free_array_as_fits_judges_the_pool(
    load: list[float], probe: float
) -> None:
    # the reclaim's trial (`gang_fits` on a copy of the free GPUs) must agree with `fits`
    cap = loaded(load)
    j = job("probe", gpus=probe)
    shapes = cap.shapes(0, 0, j)
    assert len(shapes) > 1
    free = cap.clusters[0][0].gpu_free.copy()
    assert gang_fits(free, shapes, POOL.per_node) == cap.fits(0, 0, j)

"""Each policy's choice of node and GPU on small hand-built clusters."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.alloc import NodeCluster, Suanli, TargetWorkload, TaskShape, make_policy
from suanli.alloc.policies.ours import expected_waste, lp_hole_waste, reserved_share
from suanli.errors import InputError, UnknownNameError

SHARE = TaskShape(2000, 1024, 1, 400)
WHOLE = TaskShape(4000, 1024, 1, 1000)
CPU = TaskShape(8000, 1024, 0, 0)


def cluster() -> NodeCluster:
    """idle: 4 free GPUs; used: GPU0 has 500 left, GPU1 600 left, GPU2 free; tight: little CPU."""
    c = NodeCluster(
        ["idle", "used", "tight"], [64000, 64000, 9000], [262144] * 3, [4, 3, 2], ["T4", "T4", "T4"]
    )
    c.allocate(TaskShape(1000, 0, 1, 500), 1, (0,))
    c.allocate(TaskShape(1000, 0, 1, 400), 1, (1,))
    return c


TARGET = TargetWorkload.from_shapes([SHARE, SHARE, WHOLE, CPU], coverage=1.0)


@pytest.mark.parametrize(
    ("policy", "shape", "node", "gpus"),
    [
        # used node: GPU left 3 free... DotProd prefers the least aligned free vector: node "tight"
        # (cpu 9000, 2 GPUs) has the smallest dot product with the demand.
        pytest.param("dotprod", SHARE, "tight", (0,), id="dotprod-share"),
        pytest.param("dotprod", CPU, "tight", (), id="dotprod-cpu"),
        # GpuClustering: "used" hosts only shared tasks -> 75 + its fill bonus.
        pytest.param("gpuclustering", SHARE, "used", (0,), id="clustering-share"),
        # a whole-GPU task: no node hosts 1-gpu tasks; idle nodes score 25+, "used" 0+ -> "tight"
        # (2 GPUs, fill 25*6000//8000=18, +25) beats "idle" (25*4000//8000=12, +25).
        pytest.param("gpuclustering", WHOLE, "tight", (0,), id="clustering-whole"),
        # CPU-only tasks score 0 everywhere: the smallest name wins.
        pytest.param("gpuclustering", CPU, "idle", (), id="clustering-cpu-by-name"),
        # GpuPacking: the sharing task fits GPU0 of "used" (500 left): best-fit GPU, score 100 - 5.
        pytest.param("gpupacking", SHARE, "used", (0,), id="packing-share"),
        # whole GPU: "used" must open a free GPU (49) beats idle nodes (<= 33).
        pytest.param("gpupacking", WHOLE, "used", (2,), id="packing-whole"),
        # BestFit: least weighted leftover: "tight".
        pytest.param("bestfit", SHARE, "tight", (0,), id="bestfit-share"),
        pytest.param("bestfit", WHOLE, "tight", (0,), id="bestfit-whole"),
    ],
)
def test_baseline_choices(policy: str, shape: TaskShape, node: str, gpus: tuple[int, ...]) -> None:
    c = cluster()
    choice = make_policy(policy).choose(c, shape)
    assert choice is not None
    assert (c.names[choice[0]], choice[1]) == (node, gpus)


def test_fgd_fills_the_partial_gpu_that_would_otherwise_be_a_fragment() -> None:
    c = cluster()
    # On "used", GPU0 (500 left) is a fragment for WHOLE tasks; placing 400 there leaves 100
    # instead of breaking a free GPU, so F decreases most on ("used", GPU0).
    choice = make_policy("fgd", target_workload=TARGET).choose(c, SHARE)
    assert choice is not None
    assert (c.names[choice[0]], choice[1]) == ("used", (0,))


def test_fgd_breaks_score_ties_by_the_smallest_node_name() -> None:
    c = NodeCluster(["zeta", "alpha", "mid"], [64000] * 3, [1 << 20] * 3, [8, 8, 8], ["G2"] * 3)
    choice = make_policy("fgd", target_workload=TARGET).choose(c, WHOLE)
    assert choice == (1, (0,))


def test_random_draws_only_feasible_nodes_and_is_seeded() -> None:
    c = cluster()
    picks = {
        make_policy("random", seed=s).choose(c, TaskShape(1000, 0, 3, 1000)) for s in range(20)
    }
    assert {p[0] for p in picks if p} == {0}  # only "idle" has 3 free GPUs
    a = [make_policy("random", seed=7).choose(cluster(), SHARE) for _ in range(3)]
    assert a[0] == a[1] == a[2]


HOLES = TargetWorkload.from_shapes([TaskShape(1000, 0, 1, 400), TaskShape(1000, 0, 1, 600)])


@pytest.mark.parametrize(
    ("free", "waste"),
    [
        pytest.param(100, 100.0, id="no-shape-fits-all-is-waste"),
        pytest.param(200, 200.0, id="below-the-smallest-shape"),
        pytest.param(400, 0.0, id="exact-fit-for-400"),
        # 400 and 600 fit: (H(200) + H(0)) / 2 = (200 + 0) / 2
        pytest.param(600, 100.0, id="two-shapes-fit-600"),
        # (H(400) + H(200)) / 2 = (0 + 200) / 2
        pytest.param(800, 100.0, id="two-shapes-fit-800"),
        # (H(600) + H(400)) / 2 = (100 + 0) / 2
        pytest.param(1000, 50.0, id="a-whole-gpu"),
    ],
)
def test_expected_waste_is_the_random_fit_recursion_over_the_workload_shapes(
    free: int, waste: float
) -> None:
    assert expected_waste(HOLES)[free] == pytest.approx(waste)


def test_the_random_fit_table_leaves_the_hole_the_workload_can_fill_where_fgd_ties() -> None:
    # One node, GPU0 with 800 free, GPU1 whole; a 600 task. F goes 0 -> 200 on either GPU
    # (a 200 hole fits no shape; a 400 hole fits 400 but not 600), so FGD ties and takes GPU0.
    # The random-fit expected waste: GPU0 800 -> 200 changes H by 100 - 200 = -100, GPU1
    # 1000 -> 400 by 50 - 0 = +50, so the tie-break takes GPU1 and keeps the 800 hole that 400
    # tasks fill. (The LP table of this workload is H(f) = f, see below: no preference.)
    c = NodeCluster(["n"], [64000], [0], [2], ["T4"])
    c.allocate(TaskShape(0, 0, 1, 200), 0, (0,))
    task = TaskShape(1000, 0, 1, 600)
    assert make_policy("fgd", target_workload=HOLES).choose(c, task) == (0, (0,))
    assert Suanli(HOLES, waste=0.0, lead_waste=0.0, holes="random").choose(c, task) == (0, (0,))
    assert Suanli(HOLES, lead_waste=0.0, holes="random").choose(c, task) == (0, (1,))


def lp_table_cluster() -> NodeCluster:
    return NodeCluster(["a", "b"], [64000, 8000], [0, 0], [2, 1], ["T4", "P100"])


@pytest.mark.parametrize(
    ("workload", "free", "waste"),
    [
        # 600-milli tasks only, scaled to the 3,000 milli of capacity: 5 tasks for 3 GPUs, so
        # the LP leaves two out; a 600 slot is worth pi = 600 and a hole of f >= 600 is worth
        # 600 (one task), one below 600 nothing. H(f) = f - V(f).
        pytest.param((600,), 1000, 400.0, id="600-only-whole-gpu"),
        pytest.param((600,), 800, 200.0, id="600-only-800-hole"),
        pytest.param((600,), 600, 0.0, id="600-only-exact-fit"),
        pytest.param((600,), 599, 599.0, id="600-only-too-small"),
        # 400 and 600 tasks pack every GPU exactly: nothing is left out, every class dual is 0,
        # so the table is H(f) = f and the term is the same on every GPU (no preference).
        pytest.param((400, 600), 1000, 1000.0, id="exact-packing-whole-gpu"),
        pytest.param((400, 600), 400, 400.0, id="exact-packing-400-hole"),
    ],
)
def test_the_lp_hole_table_values_holes_by_the_packing_duals(
    workload: tuple[int, ...], free: int, waste: float
) -> None:
    target = TargetWorkload.from_shapes([TaskShape(1000, 0, 1, g) for g in workload])
    kind, table = lp_hole_waste(target, lp_table_cluster())
    assert kind.tolist() == [1, 0]  # types sorted by model: P100 first
    assert table[:, free] == pytest.approx([waste, waste])


def test_suanli_with_the_lp_term_still_fills_the_exact_hole_that_fgd_fills() -> None:
    # 600-only workload; GPU0 has 600 free, GPU1 is whole. H(600) - H(0) = 0 and
    # H(1000) - H(400) = 0: the LP term is the same on both GPUs, and F (600-only) goes
    # 0 -> 0 on GPU0 and 0 -> 400 on GPU1, so both FGD and Suanli fill the exact hole.
    c = NodeCluster(["n"], [64000], [0], [2], ["T4"])
    c.allocate(TaskShape(0, 0, 1, 400), 0, (0,))
    task = TaskShape(1000, 0, 1, 600)
    target = TargetWorkload.from_shapes([task])
    assert make_policy("fgd", target_workload=target).choose(c, task) == (0, (0,))
    assert make_policy("suanli", target_workload=target).choose(c, task) == (0, (0,))


def test_suanli_orders_fgd_ties_by_cpu_balance() -> None:
    # A whole-GPU task empties either node's only GPU (F stays 0: a tie for FGD, which takes "a").
    # Left CPU: "a" 60000, "b" 12000; R = 4 CPU milli per GPU milli, so |c' - R u'| / (8000 R) is
    # 1.875 (clipped: bonus 0) on "a" and 0.375 (bonus 0.625) on "b": Suanli takes "b".
    whole = TaskShape(4000, 0, 1, 1000)
    target = TargetWorkload.from_shapes([whole])
    c = NodeCluster(["a", "b"], [64000, 16000], [0, 0], [1, 1], ["T4", "T4"])
    assert make_policy("fgd", target_workload=target).choose(c, whole) == (0, (0,))
    assert make_policy("suanli", target_workload=target).choose(c, whole) == (1, (0,))


def test_suanli_drops_the_cpu_balance_where_the_workload_asks_more_cpu_than_it_holds() -> None:
    # the tie above, with a CPU-only shape in the workload: R = (4000 + x) / 1000 CPU milli per
    # milli-GPU, and the cluster holds (64000 + 16000) / 2000 = 40. At R = 40 the balance
    # applies ("b"); at R = 41 it does not, and the tie falls to the node name, as under FGD
    whole = TaskShape(4000, 0, 1, 1000)
    c = NodeCluster(["a", "b"], [64000, 16000], [0, 0], [1, 1], ["T4", "T4"])
    for extra, node in ((36000, 1), (37000, 0)):
        policy = Suanli(TargetWorkload.from_shapes([whole, TaskShape(extra, 0, 0, 0)]))
        assert (policy.balances(c), policy.choose(c, whole)) == (node == 1, (node, (0,)))


def test_suanli_lets_the_cpu_balance_outweigh_one_band_of_the_leading_key() -> None:
    # 1 task in 100 takes 2 GPUs (8000 CPU), the rest 1 GPU (4000): R = 4 CPU milli per milli-GPU.
    # On "b" (2 GPUs) taking one breaks the 2-GPU fit: F 0 -> 10 milli, 200 levels: band 99.
    # On "a" (1 GPU) F 10 -> 0: band 100, so FGD takes "a". Balance: "a" keeps 60000 CPU for no
    # GPU (b = 0), "b" 4000 for 1000 milli, exactly R (b = 1): 99 + 1.2 beats 100 + 0, which
    # w = 0.9 (99.9) does not.
    whole = TaskShape(4000, 0, 1, 1000)
    target = TargetWorkload(((4000, 1000, 1, ()), (8000, 1000, 2, ())), (99, 1))
    c = NodeCluster(["a", "b"], [64000, 8000], [0, 0], [1, 2], ["T4", "T4"])
    assert make_policy("fgd", target_workload=target).choose(c, whole) == (0, (0,))
    assert Suanli(target, weight=0.9).choose(c, whole) == (0, (0,))
    assert make_policy("suanli", target_workload=target).choose(c, whole) == (1, (0,))


def test_the_reserved_share_spreads_typed_demand_over_the_allowed_models_by_gpu_count() -> None:
    # GPU demand 9000: a T4-only whole GPU (1000), two ("T4", "G2") halves (1000), 7 untyped.
    # T4 keeps 1000/9000 plus 2/8 of 1000/9000; G2 gets 6/8 of 1000/9000.
    workload = TargetWorkload(
        ((4000, 1000, 1, ("T4",)), (2000, 500, 1, ("G2", "T4")), (4000, 1000, 1, ())), (1, 2, 7)
    )
    share = reserved_share(workload, ("G2", "T4"), np.array([6, 2]))
    assert share.tolist() == pytest.approx([750 / 9000, (1000 + 250) / 9000])
    untyped = TargetWorkload(((4000, 1000, 1, ()),), (1,))
    assert reserved_share(untyped, ("G2", "T4"), np.array([6, 2])).tolist() == [0.0, 0.0]


def test_suanli_keeps_an_untyped_task_off_the_model_that_typed_tasks_need() -> None:
    # 1 in 100 tasks may only run on T4. Taking a GPU on the G2 node lowers F by 10 milli (the
    # T4-only shape could not use it anyway), not enough to leave FGD's band: a tie, and "a-t4"
    # has the smaller name. Suanli's reserve: s_T4 = 1000/100000, times free 2000 / free on T4
    # 1000 = 0.02 taken off the T4 node's score, so the untyped task goes to the G2 node.
    task = TaskShape(4000, 0, 1, 1000)
    target = TargetWorkload(((4000, 1000, 1, ("T4",)), (4000, 1000, 1, ())), (1, 99))
    c = NodeCluster(["a-t4", "b-g2"], [64000, 64000], [0, 0], [1, 1], ["T4", "G2"])
    assert make_policy("fgd", target_workload=target).choose(c, task) == (0, (0,))
    assert Suanli(target, reserve=0.0).choose(c, task) == (0, (0,))
    assert make_policy("suanli", target_workload=target).choose(c, task) == (1, (0,))
    typed = TaskShape(4000, 0, 1, 1000, ("T4",))
    assert make_policy("suanli", target_workload=target).choose(c, typed) == (0, (0,))


@pytest.mark.parametrize("name", ["FGD", "fgd", " BestFit ", "SUANLI", "random"])
def test_policies_are_made_by_case_insensitive_name(name: str) -> None:
    assert make_policy(name, target_workload=TARGET).choose(cluster(), SHARE) is not None


def test_an_unknown_policy_name_is_an_unknown_name_error() -> None:
    with pytest.raises(UnknownNameError, match="unknown policy"):
        make_policy("tetris")


def test_fgd_needs_a_target_workload() -> None:
    with pytest.raises(InputError, match="needs a target workload"):
        make_policy("fgd")


def test_where_the_workload_packs_exactly_the_lp_shift_merges_fgd_bands() -> None:
    # 200 and 400 tasks pack the capacity exactly: every dual is 0, H(f) = f, and a 400 task
    # has dH = 400 on either GPU. 10 * 400 milli on the sigmoid's scale of 1000 puts both GPUs
    # in the top band, so F no longer separates them: GPU0 (600 free -> 200) and GPU1 (whole
    # -> 600), which FGD (and Suanli without the term) tell apart, tie and the first index wins.
    target = TargetWorkload.from_shapes([TaskShape(1000, 0, 1, 200), TaskShape(1000, 0, 1, 400)])
    c = NodeCluster(["n"], [64000], [0], [2], ["T4"])
    c.allocate(TaskShape(0, 0, 1, 400), 0, (0,))
    task = TaskShape(1000, 0, 1, 400)
    assert lp_hole_waste(target, c)[1][0, [200, 600, 1000]] == pytest.approx([200, 600, 1000])
    assert make_policy("fgd", target_workload=target).choose(c, task) == (0, (1,))
    assert Suanli(target, lead_waste=0.0).choose(c, task) == (0, (1,))
    assert make_policy("suanli", target_workload=target).choose(c, task) == (0, (0,))

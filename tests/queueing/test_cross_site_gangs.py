"""Gangs split across the sites of one hub (issue 4): options, admission, quotas, preemption,
reservations, costs and explanations, on tiny exact scenarios."""

from __future__ import annotations

import dataclasses

import pytest

from builders import job, scenario, site
from suanli.core.capacity import MILLI, NetworkCapacity, job_milli
from suanli.core.clock import ManualClock
from suanli.core.cost import CostModel
from suanli.core.options import FeasibilityCheck, split_accelerators
from suanli.core.policies import POLICIES, make_policy
from suanli.core.policies.queueing.base import QueueingPolicy
from suanli.core.queueing import parse_queueing
from suanli.core.rules import ALLOW, RuleResult
from suanli.core.scheduler import Placement, Scheduler
from suanli.errors import SchedulingError
from suanli.ledger import events, explain
from suanli.ledger.keys import SigningKey
from suanli.ledger.runs import run_ledger
from suanli.model import Classification, Job, JobKind, Pool, Scenario, Sector, Site, Tenant
from suanli.model.network import CrossSiteGangs
from suanli.sim.engine import run
from suanli.sim.queue_metrics import count_quota_violations

SLOWDOWN = 1.5


def hub(*, allowed: bool = True, b_jurisdiction: str = "CN", with_c: bool = False) -> Scenario:
    """Sites "a" (16 A100, price 0.5, PUE 1.0) and "b" (8 A100, price 1.0, PUE 1.5) in hub "h",
    allowed to run one gang together (slowdown 1.5); optionally "c" (32 A100) in hub "g"."""
    sites = [
        dataclasses.replace(site("a", pools=(Pool("A100", 2, 8),), price=0.5), hub="h"),
        dataclasses.replace(
            site("b", pools=(Pool("A100", 1, 8),), price=1.0, pue=1.5, jurisdiction=b_jurisdiction),
            hub="h",
        ),
    ]
    if with_c:
        sites.append(dataclasses.replace(site("c", pools=(Pool("A100", 4, 8),)), hub="g"))
    s = scenario(*sites)
    gangs = {"h": CrossSiteGangs("h", ("a", "b"), 400.0, SLOWDOWN, "EST test")}
    return dataclasses.replace(s, cross_site=gangs if allowed else {})


def big(
    jid: str = "big",
    *,
    gpus: float = 20,
    arrival: float = 0.0,
    size_gb: float = 0.0,
    kind: JobKind = JobKind.TRAIN,
    classification: Classification = Classification.GENERAL,
) -> Job:
    """A 20-accelerator training gang that may span its hub: no pool of hub "h" holds it."""
    j = job(jid, gpus=gpus, duration=2.0, arrival=arrival, types=("A100",), size_gb=size_gb,
            kind=kind, classification=classification)  # fmt: skip
    return j.copy(span="hub")


def options(s: Scenario, j: Job, *, cross_site: bool = True) -> list[tuple[str, ...]]:
    """Each option as (site, ...) for a whole one, (site/pool xN, ...) for a split one."""
    f = FeasibilityCheck(CostModel(s), cross_site=cross_site)(j)
    return [tuple(p.label() for p in o.parts) if o.parts else (o.site,) for o in f.options]


SPLIT = ("a/pool 0 x12", "b/pool 0 x8")


@pytest.mark.parametrize(
    ("need", "pools", "shares"),
    [
        pytest.param(24, [(16, 8), (8, 8)], [16, 8], id="fills-both"),
        pytest.param(20, [(16, 8), (8, 8)], [12, 8], id="largest-takes-the-remainder"),
        pytest.param(17, [(16, 8), (16, 8)], [9, 8], id="whole-nodes-elsewhere"),
        pytest.param(25, [(16, 8), (8, 8)], None, id="too-big-for-the-hub"),
        pytest.param(12, [(16, 8)], None, id="one-pool-is-no-split"),
    ],
)
def test_a_split_is_whole_nodes_in_proportion_to_the_pools(
    need: int, pools: list[tuple[int, int]], shares: list[int] | None
) -> None:
    assert split_accelerators(need, pools) == shares


@pytest.mark.parametrize(
    ("scn", "j", "expected"),
    [
        pytest.param(hub(), big(), [SPLIT], id="too-big-for-any-pool-splits"),
        pytest.param(hub(), big().copy(span="pool"), [], id="span-pool-never-splits"),
        pytest.param(hub(allowed=False), big(), [], id="hub-not-allowed-never-splits"),
        pytest.param(hub(), big(gpus=12), [("a",)], id="a-pool-of-the-hub-holds-it-whole"),
        pytest.param(hub(with_c=True), big(), [("c",), SPLIT], id="one-more-option"),
        pytest.param(hub(), big(kind=JobKind.BATCH_INFERENCE), [], id="inference-never-splits"),
        pytest.param(
            hub(b_jurisdiction="SG"),
            big(classification=Classification.PERSONAL),
            [],
            id="every-part-must-be-allowed-by-the-rules",
        ),
    ],
)
def test_split_options_are_offered_only_where_allowed(
    scn: Scenario, j: Job, expected: list[tuple[str, ...]]
) -> None:
    assert options(scn, j) == expected


def test_the_service_check_never_offers_a_split() -> None:
    assert options(hub(), big(), cross_site=False) == []
    # a scheduler is built without split gangs unless its driver asks (the simulator does)
    clock = ManualClock()
    trace = run(Scheduler(hub(), make_policy("kueue"), clock), clock, [big()])
    assert not trace.placements and [r.job.id for r in trace.rejections] == ["big"]


def test_a_split_option_carries_every_parts_figures() -> None:
    s = hub()
    (o,) = FeasibilityCheck(CostModel(s), cross_site=True)(big(size_gb=1800.0)).options
    assert (o.site, o.accelerator, o.runtime_h) == ("a", "A100", 2.0 * SLOWDOWN)
    # the data moves to b only: 1800 GB over 8 Gbit/s = 0.5 h, the latest arrival
    assert [(p.ready_h, p.transfer_gb) for p in o.parts] == [(0.0, 0.0), (0.5, 1800.0)]
    assert (o.ready_h, o.transfer_gb, o.fixed_yuan) == (0.5, 1800.0, pytest.approx(180.0))
    assert o.power_kw == pytest.approx(12 * 0.4 * 1.0 + 8 * 0.4 * 1.5)


def test_a_split_gang_is_placed_on_every_part_or_on_none() -> None:
    s = hub()
    (o,) = FeasibilityCheck(CostModel(s), cross_site=True)(big()).options
    cap = NetworkCapacity(s)
    blocker = cap.allocate(1, 0, job("blocker", gpus=8, types=("A100",)))  # b is full
    assert blocker is not None
    assert not cap.fits_option(o, big())
    assert cap.allocate_option(o, big()) is None
    # the trial placement of the part on a was undone
    assert cap.free_milli[0][0] == 16 * MILLI and cap.clusters[0][0].free_gpu_milli() == 16 * MILLI
    cap.release(blocker)
    grant = cap.allocate_option(o, big())
    assert grant is not None and [cap.free_milli[0][0], cap.free_milli[1][0]] == [4 * MILLI, 0]
    cap.release(grant)
    assert cap.free_milli == cap.total_milli


def go(s: Scenario, policy: str, jobs: list[Job]) -> tuple[list[tuple[float, str, str, str]],
                                                           Scheduler, list[Placement]]:  # fmt: skip
    clock = ManualClock()
    sched = Scheduler(s, make_policy(policy), clock, cross_site=True)
    trace = run(sched, clock, jobs, record_events=True)
    return [(round(t, 6), e, j, w) for t, e, j, w in trace.events], sched, trace.placements


@pytest.mark.parametrize("policy", list(POLICIES))
def test_a_job_bigger_than_any_pool_of_its_hub_runs_split_and_finishes(policy: str) -> None:
    events_, sched, placements = go(hub(), policy, [big(size_gb=1800.0)])
    assert events_ == [(0.5, "start", "big", "a"), (3.5, "finish", "big", "a")]
    (p,) = placements
    assert [(g.site_idx, g.pool, g.milli) for g in p.grant.parts] == [(0, 0, 12_000), (1, 0, 8_000)]
    assert p.grant.milli == job_milli(p.job)
    # released together: every pool is whole again
    assert sched.capacity.free_milli == sched.capacity.total_milli


def test_energy_and_cost_are_counted_per_part_at_its_sites_prices() -> None:
    _, _, (p,) = go(hub(), "suanli", [big()])
    a, b = p.part_costs
    # a: 12 x 0.4 kW x PUE 1.0 for 3 h at 0.5 yuan/kWh; b: 8 x 0.4 x 1.5 for 3 h at 1.0
    assert (a.energy_kwh, a.energy_yuan) == (pytest.approx(14.4), pytest.approx(7.2))
    assert (b.energy_kwh, b.energy_yuan) == (pytest.approx(14.4), pytest.approx(14.4))
    assert p.cost.energy_yuan == pytest.approx(21.6)
    assert p.cost.carbon_kg == pytest.approx(a.carbon_kg + b.carbon_kg)


def test_the_reason_and_the_ledger_record_name_every_part() -> None:
    _, _, (p,) = go(hub(), "kueue", [big()])
    assert p.explanation.reason.endswith("; split across sites: a/pool 0 x12 + b/pool 0 x8 A100")
    record = events.placement(p)[2]
    assert [(r["site"], r["pool"], r["accelerators"]) for r in record["parts"]] == [
        ("a", 0, 12.0), ("b", 0, 8.0),
    ]  # fmt: skip
    whole = go(hub(), "kueue", [big(gpus=8).copy(span="pool")])[2][0]
    assert "parts" not in events.placement(whole)[2]


def per_site_quota(a: int, b: int, scope: str = "site") -> Scenario:
    s = hub()
    pools = [(x.id, x.hub, p.accelerator) for x in s.sites.values() for p in x.pools]
    flavors = {"A100@a": a, "A100@b": b} if scope == "site" else {"A100@h": a + b}
    raw = {"flavorScope": scope, "queues": [{"name": "q", "tenants": ["t1"], "quotas": flavors}]}
    return dataclasses.replace(s, queueing=parse_queueing(raw, ["A100"], ["t1"], "q", pools))


@pytest.mark.parametrize("policy", ["kueue", "suanli-queue"])
@pytest.mark.parametrize(
    ("quota", "starts"),
    [
        pytest.param(per_site_quota(12, 8), True, id="each-part-within-its-sites-quota"),
        pytest.param(per_site_quota(16, 4), False, id="b-part-over-bs-quota"),
        pytest.param(per_site_quota(12, 8, "hub"), True, id="hub-scope-counts-parts-together"),
        pytest.param(per_site_quota(12, 7, "hub"), False, id="hub-scope-one-short"),
    ],
)
def test_quotas_count_each_part_against_its_own_flavor(
    policy: str, quota: Scenario, starts: bool
) -> None:
    events_, sched, _ = go(quota, policy, [big()])
    assert bool(events_) is starts
    assert sched.policy.waiting() == (0 if starts else 1)
    pol = sched.policy
    assert isinstance(pol, QueueingPolicy) and pol.book.violations() == []


def test_a_split_gang_over_the_quota_of_both_its_sites_is_one_quota_violation() -> None:
    # fifo ignores quotas: the 20-accelerator gang (12 at a, 8 at b) breaks both sites' quota
    # of 4, in one start; the replay counted a violation per share (2), the policy one
    s = per_site_quota(4, 4)
    assert s.queueing is not None
    _, sched, placements = go(s, "fifo", [big()])
    assert isinstance(sched.policy, QueueingPolicy) and sched.policy.quota_violations == 1
    assert count_quota_violations(placements, s.queueing, []) == 1


def borrowing() -> Scenario:
    """Hub "h" with tenants ta (nominal 16 A100) and tb (8), lending in one cohort."""
    ts = {
        t: Tenant(t, t.upper(), Sector.RESEARCH_EDUCATION, "CN", quota={"A100": q})
        for t, q in {"ta": 16, "tb": 8}.items()
    }
    return dataclasses.replace(hub(), tenants=ts)


@pytest.mark.parametrize("policy", ["kueue", "suanli-queue"])
def test_preempting_a_split_gang_releases_every_part(policy: str) -> None:
    s = borrowing()
    clock = ManualClock()
    sched = Scheduler(s, make_policy(policy), clock, cross_site=True)
    sched.submit(big().copy(tenant="tb"))  # 20 A100: tb borrows 12 of ta's
    sched.cycle()
    cap = sched.capacity
    assert [cap.free_milli[0][0], cap.free_milli[1][0]] == [4 * MILLI, 0]
    clock.set(1.0)
    sched.submit(job("mine", gpus=8, duration=1.0, arrival=1.0, types=("A100",)).copy(tenant="ta"))
    out = sched.cycle()
    (stopped,) = sched.preemptions
    assert stopped.placement.job.id == "big"
    assert [p.job.id for p in out.started] == ["mine"]
    # both parts came back: "mine" holds 8 of one pool, the rest of the hub is free
    assert cap.free_milli[0][0] + cap.free_milli[1][0] == 16 * MILLI
    pol = sched.policy
    assert isinstance(pol, QueueingPolicy)
    assert (pol.book.used("tb", "A100"), pol.book.used("ta", "A100")) == (0, 8 * MILLI)
    assert "big" in pol.jobs and "big" not in pol.held


@pytest.mark.parametrize("policy", ["slurm", "suanli-queue"])
def test_a_split_gangs_reservation_holds_every_parts_pool(policy: str) -> None:
    jobs = [
        job("r0", gpus=16, duration=2.0, types=("A100",)),  # only a holds it: a is full
        big(arrival=0.1),  # needs 12 of a and 8 of b: reserved at 2.0 on both pools
        job("long", gpus=4, duration=5.0, arrival=0.2, types=("A100",)),  # would delay it on b
        job("short", gpus=4, duration=1.0, arrival=0.3, types=("A100",)),  # done before 2.0
    ]
    events_, _, _ = go(hub(), policy, jobs)
    starts = [(t, j) for t, e, j, _ in events_ if e == "start"]
    assert starts == [(0.0, "r0"), (0.3, "short"), (2.0, "big"), (2.0, "long")]


def test_a_split_gang_cannot_be_restored_by_the_service_path() -> None:
    s = hub()
    (o,) = FeasibilityCheck(CostModel(s), cross_site=True)(big()).options
    sched = Scheduler(s, make_policy("kueue"), ManualClock())
    with pytest.raises(SchedulingError, match="simulator-only"):
        sched.restore(big(), o, 0.0)


class _TypesAtB:
    """Allows every site; at "b" only T4 (a type allow-list, as governance's type limits)."""

    def cache_key(self, j: Job) -> str:
        return "types"

    def check(self, j: Job, s: Site, scn: Scenario) -> RuleResult:
        return ALLOW

    def type_limits(self, j: Job) -> dict[str, tuple[frozenset[str], str]]:
        return {"b": (frozenset({"T4"}), "types-at-b")}


def test_a_split_is_dropped_when_a_type_limit_forbids_one_parts_type_there() -> None:
    clock = ManualClock()
    sched = Scheduler(hub(), make_policy("kueue"), clock, rules=_TypesAtB(), cross_site=True)
    trace = run(sched, clock, [big()])
    # the split over a and b would put A100 work at b, and it is the job's only option
    assert not trace.placements and [r.job.id for r in trace.rejections] == ["big"]


def test_the_signed_ledger_explains_a_split_gang_part_by_part() -> None:
    s = hub()
    clock = ManualClock()
    sched = Scheduler(s, make_policy("kueue"), clock, cross_site=True)
    trace = run(sched, clock, [big()])
    ledger = run_ledger(
        SigningKey.from_seed(b"\x01" * 32), [big()], trace.placements, [], sched.cost
    )
    lines = explain(ledger.lines, "big").lines()
    parts = [line.strip() for line in lines if line.strip().startswith("part ")]
    (a, b) = trace.placements[0].part_costs
    assert parts == [
        f"part a/pool 0: 12 accelerators, {round(a.total_yuan, 2)} yuan",
        f"part b/pool 0: 8 accelerators, {round(b.total_yuan, 2)} yuan",
    ]
    assert any("considered a+b:" in line for line in lines)

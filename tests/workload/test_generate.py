"""The generated week: deterministic, big enough, loaded as promised, always runnable."""

from __future__ import annotations

from collections import Counter

import pytest

from suanli.model import RESTRICTED_CLASSES, Job, JobKind, Scenario
from suanli.scenario import load_scenario
from suanli.workload import generate_workload


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario("china-edwc")


@pytest.fixture(scope="module")
def week(scenario: Scenario) -> list[Job]:
    return generate_workload(scenario, seed=7, days=7.0)


def test_a_week_has_at_least_50000_jobs(week: list[Job]) -> None:
    assert len(week) >= 50_000


def test_the_offered_load_is_about_a_third(scenario: Scenario, week: list[Job]) -> None:
    offered = sum(j.gpu_hours for j in week)
    capacity = scenario.accelerators * 7 * 24
    ratio = offered / capacity
    print(f"offered reference GPU-hours / accelerator-hours = {ratio:.3f}")
    assert 0.29 <= ratio <= 0.35


def test_the_same_seed_gives_the_same_jobs(scenario: Scenario, week: list[Job]) -> None:
    again = generate_workload(scenario, seed=7, days=7.0)
    assert again == week


def test_another_seed_gives_other_jobs(scenario: Scenario, week: list[Job]) -> None:
    other = generate_workload(scenario, seed=8, days=1.0)
    assert [j.arrival_h for j in other[:100]] != [j.arrival_h for j in week[:100]]


def test_ids_follow_arrival_order(week: list[Job]) -> None:
    assert week[0].id == "j000001"
    assert [j.arrival_h for j in week] == sorted(j.arrival_h for j in week)
    assert all(0 <= j.arrival_h < 7 * 24 for j in week)


def test_every_job_has_a_site_with_an_acceptable_type(scenario: Scenario, week: list[Job]) -> None:
    for job in week:
        allowed = [
            s
            for s in scenario.sites.values()
            if job.data.classification not in RESTRICTED_CLASSES
            or s.jurisdiction == scenario.sites[job.data.site].jurisdiction
        ]
        assert any(
            p.accelerator in job.types and p.accelerators >= job.accelerators
            for s in allowed
            for p in s.pools
        ), job


def test_online_inference_is_east_latency_bound_and_starts_at_once(
    scenario: Scenario, week: list[Job]
) -> None:
    online = [j for j in week if j.kind is JobKind.ONLINE_INFERENCE]
    assert online
    for j in online:
        assert j.users_site is not None and 10 <= (j.latency_slo_ms or 0) <= 40
        assert j.deadline_h == pytest.approx(j.arrival_h + j.duration_h, abs=1e-3)
    regions = Counter(scenario.sites[j.users_site].region for j in online if j.users_site)
    assert regions["west"] == 0
    assert {j.accelerators for j in online} >= {0.25, 0.5, 1.0}


def test_training_has_slack_and_gangs_of_16_to_128(week: list[Job]) -> None:
    train = [j for j in week if j.kind is JobKind.TRAIN]
    assert train
    for j in train:
        assert 16 <= j.accelerators <= 128 and j.gang
        assert j.deadline_h is not None
        assert j.deadline_h >= j.arrival_h + 1.5 * j.duration_h + 1 - 1e-3


def test_the_kind_mix_is_inference_heavy(week: list[Job]) -> None:
    mix = Counter(j.kind for j in week)
    assert mix[JobKind.ONLINE_INFERENCE] > mix[JobKind.BATCH_INFERENCE] > mix[JobKind.TRAIN]


def test_data_is_homed_east_heavy_and_partners_abroad(scenario: Scenario, week: list[Job]) -> None:
    regions = Counter(scenario.sites[j.data.site].region for j in week)
    assert regions["east"] > 2 * regions["west"] > 0
    for j in week:
        if scenario.tenants[j.tenant].sector.value == "international-partner":
            if scenario.sites[j.data.site].jurisdiction == "CN":
                # a partner's service for its users on personal data homed in China
                assert j.kind is JobKind.ONLINE_INFERENCE and j.data.people is not None
                assert j.users_site and scenario.sites[j.users_site].jurisdiction != "CN"
                assert j.data.classification.value == "personal"
            else:
                assert j.data.classification.value in ("public", "general")


def test_governance_facts_straddle_the_policy_thresholds(week: list[Job]) -> None:
    people = [j.data.people for j in week if j.data.people is not None]
    assert all(j.data.classification.value == "personal" for j in week if j.data.people)
    assert min(people) < 100_000 <= max(people)
    assert any(100_000 <= p < 1_000_000 for p in people) and max(people) >= 1_000_000
    sensitive = [j.data.sensitive_people for j in week if j.data.sensitive_people]
    assert min(sensitive) < 10_000 <= max(sensitive)
    partners_on_cn = [j for j in week if j.tenant.startswith("intl-") and j.data.people]
    assert 0 < len(partners_on_cn) < 0.02 * len(week)
    models = Counter(j.model_id for j in week if j.public_facing)
    assert models["fin-assistant-ft"] and models["edu-chat-13b"] and None not in models
    assert all(j.kind is JobKind.ONLINE_INFERENCE for j in week if j.model_id or j.public_facing)
    hospitals = [j for j in week if j.tenant == "health-hospitals"]
    assert any(j.data.classification.value == "important" for j in hospitals)


def test_arrivals_follow_a_beijing_daytime_peak(week: list[Job]) -> None:
    hours = Counter(int((j.arrival_h + 8) % 24) for j in week)
    assert hours[15] > 1.5 * hours[3]

"""The cost model against hand-computed cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import job, scenario, site
from suanli.core.cost import CostModel
from suanli.core.policies.suanli import _cumulative_at
from suanli.model import JobKind, Pool


def test_energy_and_carbon_integrate_hourly_prices_over_fractional_hours() -> None:
    # price 1.0 in hour 0, 3.0 in hour 1; carbon 0.2 then 0.6 kg/kWh; PUE 1.5
    s = scenario(site("a", price=[1.0, 3.0], carbon=[0.2, 0.6], pue=1.5), carbon_price=1000.0)
    m = CostModel(s)
    # 2 A100 (0.4 kW each) for 1 h from t=0.5: half an hour in each price hour
    c = m.breakdown(job("j", gpus=2, duration=1.0), "a", "A100", 0.5)
    power = 2 * 0.4 * 1.5  # 1.2 kW facility
    assert c.energy_kwh == pytest.approx(1.2)
    assert c.energy_yuan == pytest.approx(power * (0.5 * 1.0 + 0.5 * 3.0))  # 2.4
    assert c.carbon_kg == pytest.approx(power * (0.5 * 0.2 + 0.5 * 0.6))  # 0.48
    assert c.carbon_yuan == pytest.approx(0.48)  # 1000 yuan/t = 1 yuan/kg
    assert c.total_yuan == pytest.approx(2.88)


def test_a_faster_accelerator_runs_shorter_and_draws_its_own_power() -> None:
    s = scenario(site("a", price=2.0, carbon=0.0, pools=(Pool("H800", 1, 8),)))
    m = CostModel(s)
    c = m.breakdown(job("j", gpus=1, duration=4.0), "a", "H800", 0.0)
    # H800 trains 2x the reference: 2 h at 0.7 kW
    assert c.energy_kwh == pytest.approx(1.4)
    assert c.energy_yuan == pytest.approx(2.8)


def test_inference_uses_the_inference_throughput_and_a_service_its_lifetime() -> None:
    m = CostModel(scenario(site("a")))
    train = m.runtime_h(job("t", duration=1.0), "T4")
    infer = m.runtime_h(job("i", duration=1.0, kind=JobKind.BATCH_INFERENCE), "T4")
    service = m.runtime_h(job("s", duration=1.0, kind=JobKind.ONLINE_INFERENCE), "T4")
    assert (train, infer, service) == (pytest.approx(4.0), pytest.approx(2.0), 1.0)


def test_moving_data_costs_its_link_price_and_takes_its_transfer_time() -> None:
    s = scenario(site("a"), site("b"), link_price=0.1, bandwidth_gbps=8.0)
    m = CostModel(s)
    gb, yuan, hours = m.transfer(job("j", home="a", size_gb=3600.0), "b")
    assert (gb, yuan, hours) == (3600.0, pytest.approx(360.0), pytest.approx(1.0))
    assert m.transfer(job("j", home="a", size_gb=3600.0), "a") == (0.0, 0.0, 0.0)


def test_serving_users_from_afar_costs_latency_per_accelerator_hour_and_ms() -> None:
    s = scenario(site("a", price=0.0, carbon=0.0), site("b"), latency_ms=10.0, latency_price=0.02)
    m = CostModel(s)
    j = job("j", gpus=2, duration=3.0, kind=JobKind.ONLINE_INFERENCE, users="b")
    c = m.breakdown(j, "a", "A100", 0.0)
    assert c.latency_ms == 10.0
    assert c.latency_yuan == pytest.approx(0.02 * 2 * 3.0 * 10.0)  # 1.2


@pytest.mark.parametrize(
    ("start", "penalty"),
    [
        pytest.param(0.0, 0.0, id="on-time"),
        pytest.param(1.0, 0.0, id="exactly-at-the-deadline"),
        pytest.param(1.5, 20.0 * 2 * 1.0, id="late"),
    ],
)
def test_a_missed_deadline_costs_the_penalty_per_reference_gpu_hour_once(
    start: float, penalty: float
) -> None:
    m = CostModel(scenario(site("a", price=0.0, carbon=0.0), penalty=20.0))
    c = m.breakdown(job("j", gpus=2, duration=1.0, deadline=2.0), "a", "A100", start)
    assert c.penalty_yuan == pytest.approx(penalty)


def test_times_past_the_horizon_repeat_the_last_day() -> None:
    prices = [1.0] * 24 + [float(h) for h in range(24)]
    m = CostModel(scenario(site("a", price=prices, carbon=0.0, hours=48), hours=48), horizon_h=72)
    # hour 50 is hour 2 of the repeated last day: price 2.0
    c = m.breakdown(job("j", gpus=1, duration=1.0), "a", "A100", 50.0)
    assert c.energy_yuan == pytest.approx(0.4 * 2.0)


@settings(max_examples=200, deadline=None)
@given(
    hours=st.integers(min_value=1, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    points=st.integers(min_value=1, max_value=24),
)
def test_the_vectorized_cumulative_cost_equals_numpy_interp_bit_for_bit(
    hours: int, seed: int, points: int
) -> None:
    rng = np.random.default_rng(seed)
    rows = np.hstack([np.zeros((3, 1)), np.cumsum(rng.random((3, hours)) * 1e3, axis=1)])
    x = rng.random((3, points)) * hours
    x[:, 0] = rng.integers(0, hours + 1, 3)  # whole hours, the horizon's end included
    grid = np.arange(hours + 1, dtype=np.float64)
    want = np.array([np.interp(x[i], grid, rows[i]) for i in range(3)])
    assert np.array_equal(_cumulative_at(rows, x), want)

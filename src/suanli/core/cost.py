"""The cost model: what running a job at a site, on a pool, from a start time costs in yuan.

For a job with ``a`` accelerators of type ``k`` at site ``s`` starting at ``t`` (hours):

* run time      ``r = duration / throughput_k``  (inference or training throughput); an online
  inference service runs for its declared lifetime whatever the accelerator: ``r = duration``
* facility power ``P = a * power_k * PUE_s``  (kW)
* energy        ``E = P * r``  (kWh); energy cost ``P * ∫_t^{t+r} price_s``  (yuan)
* carbon        ``C = P * ∫_t^{t+r} ci_s``  (kg); carbon cost ``C / 1000 * carbon_price``
* transfer      data moved from its home site when ``s`` differs: ``size * link price``; the
  move takes ``size * 8 / bandwidth`` hours and delays the earliest start
* latency       online inference: ``a * r * latency_ms(users, s) * latency price``; a site
  beyond the job's latency SLO is infeasible
* deadline      finishing after the deadline (or being rejected) costs
  ``deadline_penalty * a * duration`` once

The objective of a job is the sum. A gang split across sites of a hub (an option with
``parts``) is priced part by part: each part's ``a_i`` accelerators at its site's PUE, prices
and carbon intensity over the common run ``r * slowdown``, the data moved to each part's site,
and the deadline penalty once for the whole job (`option_breakdown`).

Hourly series are integrated exactly: piecewise constant per hour, so the integral is linear
between whole hours (``numpy.interp`` on the cumulative sum). Past the end of a site's series
its last day repeats, up to the model's horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from suanli.model import Job, JobKind, Scenario

if TYPE_CHECKING:
    from suanli.core.options import Option

FloatArray = npt.NDArray[np.float64]

#: hours evaluated past the scenario's own series when no horizon is given
DEFAULT_EXTRA_HORIZON_H = 90 * 24

#: completion later than the deadline by more than this (hours) counts as a miss
DEADLINE_TOLERANCE_H = 1e-6


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """The parts of one placement's objective."""

    energy_kwh: float
    energy_yuan: float
    carbon_kg: float
    carbon_yuan: float
    transfer_gb: float
    transfer_yuan: float
    latency_ms: float
    latency_yuan: float
    penalty_yuan: float

    @property
    def total_yuan(self) -> float:
        return (
            self.energy_yuan
            + self.carbon_yuan
            + self.transfer_yuan
            + self.latency_yuan
            + (self.penalty_yuan)
        )


def extend_series(series: FloatArray, hours: int) -> FloatArray:
    """The series for ``hours`` hours, repeating its last whole day past its end (the rule
    for every hourly price and carbon series; the service maps attached series by it too)."""
    n = len(series)
    if n >= hours:
        return series[:hours].astype(np.float64)
    day = min(24, n)
    tail = np.resize(series[n - day :], hours - n)
    return np.concatenate([series, tail]).astype(np.float64)


class CostModel:
    """Evaluates the objective of placements on one scenario.

    Pure and read-only once built: series are extended to ``horizon_h`` hours and their
    cumulative integrals precomputed, so an evaluation costs a few array look-ups.
    """

    def __init__(self, scenario: Scenario, horizon_h: int | None = None) -> None:
        self.scenario = scenario
        self.costs = scenario.costs
        self.horizon_h = int(horizon_h or scenario.hours + DEFAULT_EXTRA_HORIZON_H)
        self.site_ids: tuple[str, ...] = scenario.site_ids
        self.site_index = {s: i for i, s in enumerate(self.site_ids)}
        h = self.horizon_h
        n = len(self.site_ids)
        self.price = np.zeros((n, h))
        self.carbon = np.zeros((n, h))
        for i, sid in enumerate(self.site_ids):
            site = scenario.sites[sid]
            self.price[i] = extend_series(np.asarray(site.price, dtype=np.float64), h)
            self.carbon[i] = extend_series(np.asarray(site.carbon, dtype=np.float64), h)
        cp = self.costs.carbon_price_yuan_per_t / 1000.0  # yuan per kg
        #: combined yuan per kWh of facility energy, per site and hour
        self.rate = self.price + cp * self.carbon
        zeros = np.zeros((n, 1))
        self.cum_price = np.hstack([zeros, np.cumsum(self.price, axis=1)])
        self.cum_carbon = np.hstack([zeros, np.cumsum(self.carbon, axis=1)])
        self.cum_rate = np.hstack([zeros, np.cumsum(self.rate, axis=1)])
        self.grid = np.arange(h + 1, dtype=np.float64)
        self.pue = np.array([scenario.sites[s].pue for s in self.site_ids])

    # -- integrals -------------------------------------------------------------------------

    def integral(self, cum: FloatArray, site: int, a: float, b: float) -> float:
        """∫_a^b of an hourly series given its cumulative sum (``cum`` row of one site)."""
        row = cum[site]
        return float(np.interp(b, self.grid, row) - np.interp(a, self.grid, row))

    # -- per-job quantities ----------------------------------------------------------------

    def runtime_h(self, job: Job, accelerator: str) -> float:
        if job.kind is JobKind.ONLINE_INFERENCE:
            return job.duration_h
        acc = self.scenario.catalog[accelerator]
        return job.duration_h / acc.throughput(job.kind.inference)

    def power_kw(self, job: Job, accelerator: str, site: str) -> float:
        acc = self.scenario.catalog[accelerator]
        return job.accelerators * acc.power_kw.value * self.scenario.sites[site].pue

    def transfer(self, job: Job, site: str) -> tuple[float, float, float]:
        """(GB moved, yuan, hours) to bring the job's data to ``site``."""
        if site == job.data.site or job.data.size_gb <= 0:
            return 0.0, 0.0, 0.0
        link = self.scenario.link(job.data.site, site)
        gb = job.data.size_gb
        return gb, gb * link.price_yuan_per_gb, link.transfer_hours(gb)

    def latency_ms(self, job: Job, site: str) -> float:
        if job.users_site is None:
            return 0.0
        return self.scenario.link(job.users_site, site).latency_ms

    def penalty_yuan(self, job: Job) -> float:
        return self.costs.deadline_penalty_yuan_per_gpu_h * job.accelerators * job.duration_h

    def misses_deadline(self, job: Job, end_h: float) -> bool:
        return job.deadline_h is not None and end_h > job.deadline_h + DEADLINE_TOLERANCE_H

    def breakdown(self, job: Job, site: str, accelerator: str, start_h: float) -> CostBreakdown:
        """The exact cost of running ``job`` at ``site`` on ``accelerator`` from ``start_h``."""
        i = self.site_index[site]
        r = self.runtime_h(job, accelerator)
        p = self.power_kw(job, accelerator, site)
        end = start_h + r
        energy_yuan = p * self.integral(self.cum_price, i, start_h, end)
        carbon_kg = p * self.integral(self.cum_carbon, i, start_h, end)
        gb, transfer_yuan, _ = self.transfer(job, site)
        lat = self.latency_ms(job, site)
        latency_yuan = (
            self.costs.latency_yuan_per_gpu_h_ms * job.accelerators * r * lat
            if job.users_site is not None
            else 0.0
        )
        penalty = self.penalty_yuan(job) if self.misses_deadline(job, end) else 0.0
        return CostBreakdown(
            energy_kwh=p * r,
            energy_yuan=energy_yuan,
            carbon_kg=carbon_kg,
            carbon_yuan=carbon_kg / 1000.0 * self.costs.carbon_price_yuan_per_t,
            transfer_gb=gb,
            transfer_yuan=transfer_yuan,
            latency_ms=lat,
            latency_yuan=latency_yuan,
            penalty_yuan=penalty,
        )

    def option_breakdown(
        self, job: Job, option: Option, start_h: float
    ) -> tuple[CostBreakdown, tuple[CostBreakdown, ...]]:
        """The exact cost of running ``job`` as ``option`` says from ``start_h``, and, for a
        split gang, each part's share (without the penalty, which the total charges once)."""
        if not option.parts:
            return self.breakdown(job, option.site, option.accelerator, start_h), ()
        acc = option.accelerator
        hub = self.scenario.sites[option.site].hub
        r = self.runtime_h(job, acc) * self.scenario.cross_site[hub].slowdown
        end = start_h + r
        kw = self.scenario.catalog[acc].power_kw.value
        parts: list[CostBreakdown] = []
        for part in option.parts:
            i = self.site_index[part.site]
            p = part.accelerators * kw * self.scenario.sites[part.site].pue
            carbon_kg = p * self.integral(self.cum_carbon, i, start_h, end)
            lat = self.latency_ms(job, part.site)
            latency_yuan = (
                self.costs.latency_yuan_per_gpu_h_ms * part.accelerators * r * lat
                if job.users_site is not None
                else 0.0
            )
            parts.append(
                CostBreakdown(
                    energy_kwh=p * r,
                    energy_yuan=p * self.integral(self.cum_price, i, start_h, end),
                    carbon_kg=carbon_kg,
                    carbon_yuan=carbon_kg / 1000.0 * self.costs.carbon_price_yuan_per_t,
                    transfer_gb=part.transfer_gb,
                    transfer_yuan=part.transfer_yuan,
                    latency_ms=lat,
                    latency_yuan=latency_yuan,
                    penalty_yuan=0.0,
                )
            )
        penalty = self.penalty_yuan(job) if self.misses_deadline(job, end) else 0.0
        total = CostBreakdown(
            energy_kwh=sum(c.energy_kwh for c in parts),
            energy_yuan=sum(c.energy_yuan for c in parts),
            carbon_kg=sum(c.carbon_kg for c in parts),
            carbon_yuan=sum(c.carbon_yuan for c in parts),
            transfer_gb=sum(c.transfer_gb for c in parts),
            transfer_yuan=sum(c.transfer_yuan for c in parts),
            latency_ms=max(c.latency_ms for c in parts),
            latency_yuan=sum(c.latency_yuan for c in parts),
            penalty_yuan=penalty,
        )
        return total, tuple(parts)

    def rejection(self, job: Job) -> CostBreakdown:
        """The cost charged for a job that is never run: its deadline penalty."""
        return CostBreakdown(0, 0, 0, 0, 0, 0, 0, 0, self.penalty_yuan(job))

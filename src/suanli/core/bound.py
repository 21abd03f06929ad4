"""A lower bound on the total objective of any schedule of a workload.

Formulation (full knowledge of all arrivals). Let job ``j`` have options ``o`` (site and pool,
`suanli.core.options`) with run time ``r_o``, facility power ``P_o``, fixed cost ``F_o``
(transfer and latency), earliest start ``e_o`` and accelerators ``a_j``. Starting at ``t``
costs ``c_o(t) = P_o ∫_t^{t+r_o} rate_s + F_o (+ penalty_j if t + r_o > deadline_j)``, where
``rate = price + carbon_price * ci``. The scheduling problem is

    min  Σ_j Σ_o ∫ c_o(t) x_jo(t) dt
    s.t. Σ_o ∫ x_jo(t) dt = 1                                  every job runs once
         Σ_j Σ_o∈g a_j ∫ x_jo(t) |[t, t+r_o) ∩ [h, h+1)| dt <= cap_g     pool g, hour h
         x >= 0, x_jo(t) = 0 for t < e_o

with ``x`` integral in reality. Dropping integrality gives the LP relaxation; its value is a
lower bound. We solve it in its Lagrangian dual: for multipliers ``λ_gh >= 0`` on the
capacity rows,

    L(λ) = Σ_j min( penalty_j , min_{o, t >= e_o} c_o(t) + a_j Σ_h λ_gh |[t, t+r_o) ∩ [h, h+1)| )
           - Σ_gh λ_gh cap_g

and every ``L(λ)`` is a valid lower bound (weak duality); its maximum equals the LP's value.
The inner minimum is exact: between whole hours ``c_o`` and the λ term are linear in ``t``, so
the minimum over the on-time window is attained at ``e_o``, the last on-time start, a whole
hour, or a whole hour minus ``r_o``; every late start costs at least the penalty plus the
cheapest possible energy, which is what the late branch charges. ``λ`` is improved by
projected subgradient steps (Polyak step towards the best schedule found by a policy); the
best ``L`` seen is reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from suanli.core.cost import CostModel
from suanli.core.options import Option
from suanli.core.timeline import hourly_usage
from suanli.model import Job

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class BoundResult:
    value: float
    #: the bound with λ = 0 (every job at its cheapest option, capacity ignored)
    uncapacitated: float
    history: list[float] = field(default_factory=list)


def _cum_at(flat: F64, base: I64, t: F64, width: int) -> F64:
    """Cumulative hourly integral at times ``t`` in rows starting at ``base`` (flattened)."""
    tc = np.clip(t, 0.0, float(width - 1))
    i = np.minimum(np.floor(tc).astype(np.int64), width - 2)
    frac = tc - i
    lo = flat[base + i]
    return lo + frac * (flat[base + i + 1] - lo)


class _Candidates:
    """Every on-time start candidate of every option of every job, flattened."""

    def __init__(
        self,
        jobs: Sequence[Job],
        options: Sequence[Sequence[Option]],
        cost: CostModel,
        pool_of: dict[tuple[int, int], int],
    ) -> None:
        h = cost.horizon_h
        t_parts: list[F64] = []
        job_parts: list[I64] = []
        opt_parts: list[I64] = []
        r_l: list[float] = []
        g_l: list[int] = []
        s_l: list[int] = []
        p_l: list[float] = []
        f_l: list[float] = []
        a_l: list[float] = []
        self.late = np.full(len(jobs), np.inf)
        self.penalty = np.array([cost.penalty_yuan(j) for j in jobs])
        min_rate = cost.rate.min(axis=1)
        k = 0
        for jx, (job, opts) in enumerate(zip(jobs, options, strict=True)):
            for o in opts:
                r = o.runtime_h
                e = o.ready_h
                last = (job.deadline_h - r) if job.deadline_h is not None else h - r
                last = min(last, h - r)
                late_cost = self.penalty[jx] + o.power_kw * r * min_rate[o.site_idx] + o.fixed_yuan
                self.late[jx] = min(self.late[jx], late_cost)
                if last < e - 1e-9:
                    continue
                ints = np.arange(math.ceil(e), math.floor(last) + 1, dtype=np.float64)
                shifted = (
                    np.arange(math.ceil(e + r), math.floor(last + r) + 1, dtype=np.float64) - r
                )
                t = np.concatenate([[e, last], ints, shifted])
                t = t[(t >= e - 1e-9) & (t <= last + 1e-9)]
                t_parts.append(t)
                job_parts.append(np.full(len(t), jx, dtype=np.int64))
                opt_parts.append(np.full(len(t), k, dtype=np.int64))
                r_l.append(r)
                g_l.append(pool_of[(o.site_idx, o.pool)])
                s_l.append(o.site_idx)
                p_l.append(o.power_kw)
                f_l.append(o.fixed_yuan)
                a_l.append(job.accelerators)
                k += 1
        self.n_jobs = len(jobs)
        if t_parts:
            self.t = np.concatenate(t_parts)
            self.job = np.concatenate(job_parts)
            opt = np.concatenate(opt_parts)
        else:
            self.t = np.zeros(0)
            self.job = np.zeros(0, dtype=np.int64)
            opt = np.zeros(0, dtype=np.int64)
        r_a, g_a, s_a = np.array(r_l), np.array(g_l, dtype=np.int64), np.array(s_l, dtype=np.int64)
        self.r = r_a[opt] if len(opt) else np.zeros(0)
        self.g = g_a[opt] if len(opt) else np.zeros(0, dtype=np.int64)
        self.a = np.array(a_l)[opt] if len(opt) else np.zeros(0)
        width = h + 1
        flat_rate = cost.cum_rate.ravel()
        base = s_a[opt] * width if len(opt) else np.zeros(0, dtype=np.int64)
        energy = _cum_at(flat_rate, base, self.t + self.r, width) - _cum_at(
            flat_rate, base, self.t, width
        )
        self.static = (np.array(p_l)[opt] if len(opt) else np.zeros(0)) * energy + (
            np.array(f_l)[opt] if len(opt) else np.zeros(0)
        )
        # jobs are contiguous in the flattened arrays; boundaries for reduceat
        self.has = np.zeros(len(jobs), dtype=bool)
        self.has[np.unique(self.job)] = True
        self.starts = np.searchsorted(self.job, np.arange(len(jobs)))


def lower_bound(
    jobs: Sequence[Job],
    options: Sequence[Sequence[Option]],
    cost: CostModel,
    *,
    target: float | None = None,
    iterations: int = 8,
) -> BoundResult:
    """The Lagrangian (LP) lower bound on the objective; see the module docstring.

    ``target`` is the objective of a known schedule (it sets the subgradient step).
    """
    scenario = cost.scenario
    pool_of: dict[tuple[int, int], int] = {}
    caps: list[float] = []
    for i, sid in enumerate(cost.site_ids):
        for k, pool in enumerate(scenario.sites[sid].pools):
            pool_of[(i, k)] = len(caps)
            caps.append(float(pool.accelerators))
    cap = np.array(caps)
    h = cost.horizon_h
    width = h + 1
    c = _Candidates(jobs, options, cost, pool_of)
    lam = np.zeros((len(caps), h))
    best = -math.inf
    history: list[float] = []
    uncapacitated = math.nan
    theta = 1.0
    for it in range(max(1, iterations)):
        cum_lam = np.hstack([np.zeros((len(caps), 1)), np.cumsum(lam, axis=1)]).ravel()
        base = c.g * width
        lam_term = c.a * (
            _cum_at(cum_lam, base, c.t + c.r, width) - _cum_at(cum_lam, base, c.t, width)
        )
        total = c.static + lam_term
        per_job = np.minimum(c.penalty, c.late)
        if len(total):
            mins = np.minimum.reduceat(total, c.starts[c.has])
            per_job[c.has] = np.minimum(per_job[c.has], mins)
        value = float(per_job.sum() - (lam.sum(axis=1) * cap).sum())
        history.append(value)
        if it == 0:
            uncapacitated = value
        if value > best + 1e-9:
            best = value
        else:
            theta /= 2
        if it == iterations - 1 or target is None or not len(total):
            break
        # subgradient: hourly usage of every job's minimising choice minus capacity
        chosen_min = np.full(c.n_jobs, np.inf)
        chosen_min[c.has] = mins
        on_time = chosen_min <= np.minimum(c.penalty, c.late)
        hit = (total <= chosen_min[c.job] + 1e-12) & on_time[c.job]
        idx = np.flatnonzero(hit)
        _, first = np.unique(c.job[idx], return_index=True)
        pick = idx[first]
        usage = hourly_usage(c.t[pick], c.t[pick] + c.r[pick], c.a[pick], c.g[pick], len(caps), h)
        grad = usage - cap[:, None]
        norm = float((grad**2).sum())
        if norm <= 0 or target <= value:
            break
        step = theta * (target - value) / norm
        lam = np.maximum(0.0, lam + step * grad)
    return BoundResult(best, uncapacitated, history)

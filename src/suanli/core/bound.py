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

    L(λ) = Σ_j min_{o, t >= e_o} ( c_o(t) + a_j Σ_h λ_gh |[t, t+r_o) ∩ [h, h+1)| )
           - Σ_gh λ_gh cap_g

(a job with no option at all is rejected and contributes its penalty)

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

#: iterations without a better bound before the subgradient step is halved
PATIENCE = 3
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


def _ranges(lo: F64, hi: F64) -> tuple[I64, F64]:
    """For each i, the whole numbers in [lo_i, hi_i]: (owner index, value) flattened."""
    first = np.ceil(lo - 1e-9)
    counts = np.maximum(0, np.floor(hi + 1e-9) - first + 1).astype(np.int64)
    owner = np.repeat(np.arange(len(lo)), counts)
    offsets = np.cumsum(counts) - counts
    step = np.arange(int(counts.sum())) - np.repeat(offsets, counts)
    return owner, first[owner] + step


class _Candidates:
    """Every on-time start candidate of every option of every job, flattened and grouped by
    job (the breakpoints of the module docstring)."""

    def __init__(
        self,
        jobs: Sequence[Job],
        options: Sequence[Sequence[Option]],
        cost: CostModel,
        pool_of: dict[tuple[int, int], int],
    ) -> None:
        h = cost.horizon_h
        self.n_jobs = len(jobs)
        self.penalty = np.array([cost.penalty_yuan(j) for j in jobs])
        flat = [(jx, o) for jx, opts in enumerate(options) for o in opts]
        owner_job = np.array([jx for jx, _ in flat], dtype=np.int64)
        r = np.array([o.runtime_h for _, o in flat])
        e = np.array([o.ready_h for _, o in flat])
        site = np.array([o.site_idx for _, o in flat], dtype=np.int64)
        power = np.array([o.power_kw for _, o in flat])
        fixed = np.array([o.fixed_yuan for _, o in flat])
        g = np.array([pool_of[(o.site_idx, o.pool)] for _, o in flat], dtype=np.int64)
        deadline = np.array([j.deadline_h if j.deadline_h is not None else np.inf for j in jobs])
        acc = np.array([j.accelerators for j in jobs])
        last = np.minimum(deadline[owner_job] - r, h - r) if len(flat) else np.zeros(0)
        # every late start costs at least the penalty plus the cheapest energy anywhere
        late_cost = self.penalty[owner_job] + power * r * cost.rate.min(axis=1)[site] + fixed
        self.late = np.full(len(jobs), np.inf)
        np.minimum.at(self.late, owner_job, late_cost)
        ok = last >= e - 1e-9
        # candidates: e, last, whole hours, whole hours minus r, all within [e, last]
        o_int, t_int = _ranges(e, last)
        o_sh, t_sh = _ranges(e + r, last + r)
        t_sh = t_sh - r[o_sh]
        idx = np.flatnonzero(ok)
        opt = np.concatenate([idx, idx, o_int, o_sh])
        t = np.concatenate([e[idx], last[idx], t_int, t_sh])
        keep = (t >= e[opt] - 1e-9) & (t <= last[opt] + 1e-9)
        opt, t = opt[keep], t[keep]
        order = np.argsort(owner_job[opt], kind="stable")
        opt, t = opt[order], t[order]
        self.t = t
        self.job = owner_job[opt]
        self.r = r[opt]
        self.g = g[opt]
        self.a = acc[self.job] if len(opt) else np.zeros(0)
        width = h + 1
        flat_rate = cost.cum_rate.ravel()
        base = site[opt] * width
        energy = _cum_at(flat_rate, base, self.t + self.r, width) - _cum_at(
            flat_rate, base, self.t, width
        )
        self.static = power[opt] * energy + fixed[opt]
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
    iterations: int = 12,
    theta: float = 1.0,
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
    stalls = 0
    uncapacitated = math.nan
    for it in range(max(1, iterations)):
        cum_lam = np.hstack([np.zeros((len(caps), 1)), np.cumsum(lam, axis=1)]).ravel()
        base = c.g * width
        lam_term = c.a * (
            _cum_at(cum_lam, base, c.t + c.r, width) - _cum_at(cum_lam, base, c.t, width)
        )
        total = c.static + lam_term
        # a job with no option is rejected and pays its penalty; every other job runs
        per_job = np.where(np.isfinite(c.late), c.late, c.penalty)
        if len(total):
            mins = np.minimum.reduceat(total, c.starts[c.has])
            per_job[c.has] = np.minimum(per_job[c.has], mins)
        value = float(per_job.sum() - (lam.sum(axis=1) * cap).sum())
        history.append(value)
        if it == 0:
            uncapacitated = value
        if value > best + 1e-9:
            best = value
            stalls = 0
        else:
            # halve the step after a few iterations without progress
            stalls += 1
            if stalls >= PATIENCE:
                theta /= 2
                stalls = 0
        if it == iterations - 1 or target is None or not len(total):
            break
        # subgradient: hourly usage of every job's minimising choice minus capacity
        chosen_min = np.full(c.n_jobs, np.inf)
        chosen_min[c.has] = mins
        on_time = chosen_min <= per_job
        hit = (total <= chosen_min[c.job] + 1e-12) & on_time[c.job]
        idx = np.flatnonzero(hit)
        _, first = np.unique(c.job[idx], return_index=True)
        pick = idx[first]
        usage = hourly_usage(c.t[pick], c.t[pick] + c.r[pick], c.a[pick], c.g[pick], len(caps), h)
        grad = usage - cap[:, None]
        # the projection keeps λ = 0 where usage is below capacity: those components do not
        # move λ, so they are left out of the step length (projected subgradient)
        grad[(lam <= 0) & (grad < 0)] = 0.0
        norm = float((grad**2).sum())
        if norm <= 0 or target <= value:
            break
        step = theta * (target - value) / norm
        lam = np.maximum(0.0, lam + step * grad)
    return BoundResult(best, uncapacitated, history)

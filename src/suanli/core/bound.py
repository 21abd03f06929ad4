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
import operator
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

#: candidates evaluated at once (bounds the temporary memory of an evaluation)
CHUNK = 1_000_000

#: options whose candidates are built at once
OPTION_BATCH = 20_000
I64 = npt.NDArray[np.int64]

#: an option's figures the bound reads, in one call
_FIGURES = operator.attrgetter("runtime_h", "ready_h", "power_kw", "fixed_yuan", "site_idx", "pool")


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
    job (the breakpoints of the module docstring). Per candidate only its start, its static
    cost, its job and its option are stored (24 bytes); the rest is looked up per option."""

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
        # the options in job order, without a tuple per option (memory: this is the peak)
        flat = [o for opts in options for o in opts]
        n_opt = len(flat)
        counts = np.fromiter((len(opts) for opts in options), np.int64, len(options))
        owner_job = np.repeat(np.arange(len(options), dtype=np.int64), counts)
        # every figure of every option in one pass (as float64: the indices are exact)
        figures = np.empty((n_opt, 6))
        for lo in range(0, n_opt, OPTION_BATCH):
            # in batches: a tuple per option for all of them at once would be the peak
            figures[lo : lo + OPTION_BATCH] = list(map(_FIGURES, flat[lo : lo + OPTION_BATCH]))
        r, e, power, fixed = (np.ascontiguousarray(figures[:, k]) for k in range(4))
        site = figures[:, 4].astype(np.int64)
        pool = figures[:, 5].astype(np.int64)
        del figures
        deadline = np.array([j.deadline_h if j.deadline_h is not None else np.inf for j in jobs])
        acc = np.array([j.accelerators for j in jobs])
        last = np.minimum(deadline[owner_job] - r, h - r) if n_opt else np.zeros(0)
        # every late start costs at least the penalty plus the cheapest energy anywhere
        late_cost = self.penalty[owner_job] + power * r * cost.rate.min(axis=1)[site] + fixed
        self.late = np.full(len(jobs), np.inf)
        np.minimum.at(self.late, owner_job, late_cost)
        # per option: run time, pool row, accelerators
        self.opt_r = r
        rows = np.full((int(site.max(initial=0)) + 1, int(pool.max(initial=0)) + 1), -1)
        for (i, k), g in pool_of.items():
            if i < rows.shape[0] and k < rows.shape[1]:
                rows[i, k] = g
        self.opt_g = rows[site, pool] if n_opt else np.zeros(0, dtype=np.int64)
        if (self.opt_g < 0).any():
            raise KeyError("an option's pool is not in pool_of")
        del flat
        self.opt_a = acc[owner_job] if n_opt else np.zeros(0)
        # candidates: e, last, whole hours, whole hours minus r, all within [e, last];
        # built in batches of options into buffers sized by an upper bound, so the peak
        # memory is the result plus one batch
        ok = last >= e - 1e-9
        n_int = np.where(ok, np.floor(last + 1e-9) - np.ceil(e - 1e-9) + 1, 0)
        n_sh = np.where(ok, np.floor(last + r + 1e-9) - np.ceil(e + r - 1e-9) + 1, 0)
        bound = int((np.maximum(n_int, 0) + np.maximum(n_sh, 0) + 2 * ok).sum())
        self.t = np.empty(bound)
        self.static = np.empty(bound)
        self.opt = np.empty(bound, dtype=np.int32)
        width = h + 1
        flat_rate = cost.cum_rate.ravel()
        n = 0
        for lo in range(0, n_opt, OPTION_BATCH):
            hi = min(n_opt, lo + OPTION_BATCH)
            sel = lo + np.flatnonzero(ok[lo:hi])
            o_int, t_int = _ranges(e[sel], last[sel])
            o_sh, t_sh = _ranges(e[sel] + r[sel], last[sel] + r[sel])
            t_sh -= r[sel][o_sh]
            opt = np.concatenate([sel, sel, sel[o_int], sel[o_sh]])
            t = np.concatenate([e[sel], last[sel], t_int, t_sh])
            keep = (t >= e[opt] - 1e-9) & (t <= last[opt] + 1e-9)
            opt, t = opt[keep], t[keep]
            # options are in job order, so ordering by option keeps every job contiguous
            order = np.argsort(opt, kind="stable")
            opt, t = opt[order], t[order]
            base = site[opt] * width
            energy = _cum_at(flat_rate, base, t + r[opt], width) - _cum_at(
                flat_rate, base, t, width
            )
            m = len(t)
            self.t[n : n + m] = t
            self.static[n : n + m] = power[opt] * energy + fixed[opt]
            self.opt[n : n + m] = opt
            n += m
        self.t = self.t[:n]
        self.static = self.static[:n]
        self.opt = self.opt[:n]
        self.job = owner_job[self.opt].astype(np.int32)
        # jobs are contiguous in the flattened arrays; boundaries for reduceat
        self.has = np.zeros(len(jobs), dtype=bool)
        self.has[np.unique(self.job)] = True
        self.starts = np.searchsorted(self.job, np.arange(len(jobs)))

    def chunks(self) -> list[tuple[int, int]]:
        """Slices of at most CHUNK candidates that never split a job."""
        n = len(self.t)
        out: list[tuple[int, int]] = []
        lo = 0
        while lo < n:
            hi = min(n, lo + CHUNK)
            if hi < n:
                # move the cut back to the start of the job it falls in
                hi = int(np.searchsorted(self.job, self.job[hi], side="left"))
                if hi <= lo:
                    hi = int(np.searchsorted(self.job, self.job[lo], side="right"))
            out.append((lo, hi))
            lo = hi
        return out

    def evaluate(self, lam: F64, cap: F64, width: int) -> tuple[float, F64, npt.NDArray[np.int64]]:
        """L(λ), each job's minimum, and the candidate that attains it (-1: none, late)."""
        cum_lam = np.hstack([np.zeros((lam.shape[0], 1)), np.cumsum(lam, axis=1)]).ravel()
        # a job with no option is rejected and pays its penalty; every other job runs
        per_job = np.where(np.isfinite(self.late), self.late, self.penalty)
        pick = np.full(self.n_jobs, -1, dtype=np.int64)
        # a pool whose λ is 0 every hour adds exactly 0 to its candidates: they are skipped
        priced: npt.NDArray[np.bool_] = np.any(lam != 0, axis=1)
        for lo, hi in self.chunks():
            o = self.opt[lo:hi]
            total = self.static[lo:hi].copy()
            sel = np.flatnonzero(priced[self.opt_g[o]])
            if len(sel):
                o = o[sel]
                tt = self.t[lo:hi][sel]
                base = self.opt_g[o] * width
                total[sel] += self.opt_a[o] * (
                    _cum_at(cum_lam, base, tt + self.opt_r[o], width)
                    - _cum_at(cum_lam, base, tt, width)
                )
            jobs = self.job[lo:hi]
            first = np.flatnonzero(np.r_[True, jobs[1:] != jobs[:-1]])
            mins = np.minimum.reduceat(total, first)
            owners = jobs[first]
            better = mins < per_job[owners]
            per_job[owners[better]] = mins[better]
            # the first candidate of each job that attains its minimum (jobs are contiguous,
            # so the hits of one job are too)
            hit = np.flatnonzero(total <= np.repeat(mins, np.diff(np.r_[first, len(total)])))
            hit_jobs = jobs[hit]
            chosen = hit[np.r_[True, hit_jobs[1:] != hit_jobs[:-1]]] + lo
            pick[owners[better]] = chosen[better]
        value = float(per_job.sum() - (lam.sum(axis=1) * cap).sum())
        return value, per_job, pick


class LowerBound:
    """The bound's problem over ``jobs`` and their ``options``: every candidate start, built
    once; `solve` runs the subgradient for a target. (`lower_bound` does both.)"""

    def __init__(
        self, jobs: Sequence[Job], options: Sequence[Sequence[Option]], cost: CostModel
    ) -> None:
        scenario = cost.scenario
        pool_of: dict[tuple[int, int], int] = {}
        caps: list[float] = []
        for i, sid in enumerate(cost.site_ids):
            for k, pool in enumerate(scenario.sites[sid].pools):
                pool_of[(i, k)] = len(caps)
                caps.append(float(pool.accelerators))
        self.cap = np.array(caps)
        self.horizon_h = cost.horizon_h
        self.candidates = _Candidates(jobs, options, cost, pool_of)

    def solve(
        self, target: float | None = None, iterations: int = 20, theta: float = 1.0
    ) -> BoundResult:
        """The best ``L(λ)`` of the subgradient steps; ``target`` is the objective of a known
        schedule (it sets the step)."""
        c, cap, h = self.candidates, self.cap, self.horizon_h
        n_pools = len(cap)
        lam = np.zeros((n_pools, h))
        best = -math.inf
        history: list[float] = []
        stalls = 0
        uncapacitated = math.nan
        for it in range(max(1, iterations)):
            value, _, pick = c.evaluate(lam, cap, h + 1)
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
            if it == iterations - 1 or target is None or target <= value:
                break
            # subgradient: hourly usage of every job's minimising choice minus capacity
            chosen = pick[pick >= 0]
            o = c.opt[chosen]
            start = c.t[chosen]
            usage = hourly_usage(start, start + c.opt_r[o], c.opt_a[o], c.opt_g[o], n_pools, h)
            grad = usage - cap[:, None]
            # the projection keeps λ = 0 where usage is below capacity: those components do
            # not move λ, so they are left out of the step length (projected subgradient)
            grad[(lam <= 0) & (grad < 0)] = 0.0
            norm = float((grad**2).sum())
            if norm <= 0:
                break
            lam = np.maximum(0.0, lam + theta * (target - value) / norm * grad)
        return BoundResult(best, uncapacitated, history)


def lower_bound(
    jobs: Sequence[Job],
    options: Sequence[Sequence[Option]],
    cost: CostModel,
    *,
    target: float | None = None,
    iterations: int = 20,
    theta: float = 1.0,
) -> BoundResult:
    """The Lagrangian (LP) lower bound on the objective; see the module docstring.

    ``target`` is the objective of a known schedule (it sets the subgradient step).
    """
    return LowerBound(jobs, options, cost).solve(target, iterations, theta)

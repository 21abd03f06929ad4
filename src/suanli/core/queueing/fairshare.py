"""Weighted fair sharing by dominant resource share (DRF), with usage decayed over time.

Each rule is a small named function; the policies order queues and victims with them.

* DRF (Ghodsi et al., NSDI 2011, section 4): a queue's *dominant share* is its largest share
  of any one resource; the queue with the lowest dominant share goes first. Weighted DRF
  divides the share by the queue's weight (section 5.1).
* Decay (Slurm's ``PriorityDecayHalfLife``, "Fair Tree"/multifactor docs): usage is an
  exponentially weighted average of the accelerators held, with half-life ``half_life_h``,
  so a queue that used much long ago is not punished forever.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from suanli.errors import SchedulingError


class DecayedUsage:
    """Per queue and flavor, the exponentially weighted average of the accelerators held.

    ``U(t)`` follows ``dU/dt = lam * (u(t) - U)`` with ``lam = ln 2 / half_life_h``; usage
    ``u`` is constant between calls to `advance`, so the update is exact.
    """

    def __init__(self, half_life_h: float) -> None:
        if half_life_h <= 0:
            raise SchedulingError(f"half_life_h must be > 0, got {half_life_h}")
        self.lam = math.log(2) / half_life_h
        self.now = 0.0
        self.current: dict[tuple[str, str], float] = {}
        self.average: dict[tuple[str, str], float] = {}

    def advance(self, now: float) -> None:
        dt = now - self.now
        if dt <= 0:
            return
        keep = math.exp(-self.lam * dt)
        for key in set(self.current) | set(self.average):
            u = self.current.get(key, 0.0)
            self.average[key] = u + (self.average.get(key, 0.0) - u) * keep
        self.now = now

    def change(self, now: float, queue: str, flavor: str, delta: float) -> None:
        """``queue`` holds ``delta`` more accelerators of ``flavor`` from ``now`` on."""
        self.advance(now)
        key = (queue, flavor)
        self.current[key] = self.current.get(key, 0.0) + delta

    def of(self, queue: str, flavor: str) -> float:
        return self.average.get((queue, flavor), 0.0)

    def snapshot(self) -> tuple[float, dict[tuple[str, str], float]]:
        """The averages and the time they hold at, for `restore`. What is held is left out:
        whoever restores counts it again with `change` (the service, its running jobs)."""
        return self.now, dict(self.average)

    def restore(self, now: float, average: Mapping[tuple[str, str], float]) -> None:
        """Start from a `snapshot` taken at ``now``, holding nothing. Once what was held then
        is counted again at ``now`` (`change`), every later average equals the snapshotted
        one's: the decay from ``now`` on is applied exactly, as it would have been."""
        if not math.isfinite(now) or not all(math.isfinite(v) for v in average.values()):
            raise SchedulingError("a decayed usage snapshot must hold finite numbers")
        self.now = now
        self.current = {}
        self.average = dict(average)


def rule_dominant_share(
    usage: Mapping[str, float], capacity: Mapping[str, float], weight: float
) -> float:
    """DRF section 4 with weights (5.1): the largest share of any flavor, over the weight."""
    share = max((u / capacity[f] for f, u in usage.items() if capacity.get(f)), default=0.0)
    return share / weight


def rule_lower_share_first(share: float) -> float:
    """DRF's progressive filling: the queue with the lowest dominant share goes first (an
    order key: smaller first). Shares equal to 1e-9 tie, so that rounding noise in decayed
    usage does not decide; the order within the queue does."""
    return round(share, 9)


def rule_entitled_share(weights: Mapping[str, float], active: set[str]) -> dict[str, float]:
    """Each active queue's entitlement: its weight over the active queues' total weight
    (weighted max-min fairness; an idle queue's entitlement goes to the others)."""
    total = sum(weights[q] for q in active)
    return {q: weights[q] / total for q in active} if total else {}


def jain_index(values: list[float]) -> float:
    """Jain's fairness index (Jain, Chiu, Hawe 1984): ``(sum x)^2 / (n sum x^2)``; 1 is fair."""
    if not values:
        return 1.0
    sq = sum(x * x for x in values)
    return 1.0 if sq == 0 else sum(values) ** 2 / (len(values) * sq)

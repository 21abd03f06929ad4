"""Running power per site against its cap: the dynamic half of the ``powerCap`` rule.

The engine's ``powerCap`` rule refuses a job that alone exceeds its site's cap (static, at
intake); `PowerBook` tracks what is running, so the scheduler can hold a job whose start
would push a site over its cap: ``load + job <= cap`` (MW, facility power incl. PUE).
"""

from __future__ import annotations

from collections.abc import Mapping

from suanli.errors import SchedulingError
from suanli.model import Scenario


class PowerBook:
    def __init__(self, scenario: Scenario, caps_mw: Mapping[str, float] | None = None) -> None:
        caps = caps_mw or {}
        self.caps = {sid: caps.get(sid, s.power_cap_mw) for sid, s in scenario.sites.items()}
        self.load_mw = dict.fromkeys(self.caps, 0.0)
        self._running: dict[str, tuple[str, float]] = {}

    def fits(self, site_id: str, mw: float) -> bool:
        return self.load_mw[site_id] + mw <= self.caps[site_id] + 1e-9

    def headroom_mw(self, site_id: str) -> float:
        return self.caps[site_id] - self.load_mw[site_id]

    def commit(self, job_id: str, site_id: str, mw: float) -> None:
        if job_id in self._running:
            raise SchedulingError(
                f"job {job_id!r} already draws power at {self._running[job_id][0]}"
            )
        self._running[job_id] = (site_id, mw)
        self.load_mw[site_id] += mw

    def release(self, job_id: str) -> None:
        try:
            site_id, mw = self._running.pop(job_id)
        except KeyError:
            raise SchedulingError(f"job {job_id!r} draws no power") from None
        self.load_mw[site_id] -= mw

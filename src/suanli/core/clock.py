"""The clock the core reads time from. The core never reads the wall clock itself."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """Hours since the scenario's start."""

    def now(self) -> float: ...


class ManualClock:
    """A clock set by its driver: the simulator's virtual time, or a test's."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def set(self, t: float) -> None:
        if t < self._t:
            raise ValueError(f"time may not go backwards: {t} < {self._t}")
        self._t = t

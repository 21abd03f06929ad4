"""The digital twin as a library call: what `suanli simulate` runs.

>>> from suanli.simulation import simulate
>>> result = simulate(days=1)                  # the embedded default, one day
>>> result.runs["suanli"].metrics.objective_yuan
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from suanli.model import Job, Scenario
from suanli.sim.run import DEFAULT_POLICIES, Progress, SimulationResult
from suanli.sim.run import simulate as _simulate


def load_inputs(
    scenario: str | Path | Scenario = "china-edwc",
    workload: str | Path | Sequence[Job] | None = None,
    *,
    seed: int = 7,
    days: float = 7.0,
) -> tuple[Scenario, list[Job]]:
    """The scenario (by name, path or value) and its workload (a file, jobs, or generated)."""
    from suanli.scenario import load_scenario
    from suanli.workload import generate_workload, load_workload

    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if workload is None:
        jobs = generate_workload(scn, seed=seed, days=days)
    elif isinstance(workload, str | Path):
        jobs = load_workload(Path(workload), scn)
    else:
        jobs = list(workload)
    return scn, jobs


def simulate(
    scenario: str | Path | Scenario = "china-edwc",
    workload: str | Path | Sequence[Job] | None = None,
    policies: Sequence[str] = DEFAULT_POLICIES,
    *,
    seed: int = 7,
    days: float = 7.0,
    bound: bool = True,
    progress: Progress | None = None,
) -> SimulationResult:
    """Replay a workload on a scenario under each policy and bound the optimum."""
    scn, jobs = load_inputs(scenario, workload, seed=seed, days=days)
    window = days * 24.0 if workload is None else None
    return _simulate(scn, jobs, policies, bound=bound, window_h=window, progress=progress)

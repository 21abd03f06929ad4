"""The digital twin as a library call: what `suanli simulate` runs.

>>> from suanli.simulation import simulate
>>> result = simulate(days=1)                  # the embedded default, one day
>>> result.runs["suanli"].metrics.objective_yuan
>>> result.runs["suanli"].metrics.policy_violations     # governed by the default policy set
0

``policy_set`` is ``"default"`` (the embedded `suanli.governance.DEFAULT_POLICY`), a path to a
PolicySet file, or ``None``/``"none"`` (the interim residency rule only).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from suanli.errors import InputError
from suanli.ledger.keys import SigningKey
from suanli.model import Job, Scenario
from suanli.sim.run import (
    DEFAULT_APPROVAL_DELAY_H,
    DEFAULT_POLICIES,
    GovernanceOptions,
    Progress,
    SimulationResult,
)
from suanli.sim.run import simulate as _simulate


def load_inputs(
    scenario: str | Path | Scenario = "china-edwc",
    workload: str | Path | Sequence[Job] | None = None,
    *,
    seed: int = 7,
    days: float = 7.0,
    load: float | None = None,
) -> tuple[Scenario, list[Job]]:
    """The scenario (by name, path or value) and its workload (a file, jobs, or generated;
    a built-in trace scenario such as ``pai-2020`` replays its trace, arrivals within
    ``days``). ``load`` sets a generated or trace workload's offered load (None: its own
    default); it cannot change a given workload."""
    from suanli.scenario import load_scenario
    from suanli.workload import generate_workload, load_workload
    from suanli.workload.pai import TRACE_WORKLOADS

    if load is not None and workload is not None:
        raise InputError("load", "sets a generated or trace workload's load, not a given one's")
    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    by_load = {} if load is None else {"load": load}
    if workload is None and scn.name in TRACE_WORKLOADS:
        jobs = TRACE_WORKLOADS[scn.name](scn, seed=seed, days=days, **by_load)
    elif workload is None:
        jobs = generate_workload(scn, seed=seed, days=days, **by_load)
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
    policy_set: str | Path | None = "default",
    approval_delay_h: float = DEFAULT_APPROVAL_DELAY_H,
    workers: int = 1,
    load: float | None = None,
) -> SimulationResult:
    """Replay a workload on a scenario under each policy and bound the optimum; ``workers``
    > 1 runs the policies and the bound in that many processes (the same result); ``load``:
    see `load_inputs`."""
    governance = governance_options(policy_set, approval_delay_h)
    scn, jobs = load_inputs(scenario, workload, seed=seed, days=days, load=load)
    window = days * 24.0 if workload is None else None
    return _simulate(
        scn, jobs, policies, bound=bound, window_h=window, progress=progress,
        governance=governance, workers=workers,
    )  # fmt: skip


def ledger_paths(path: Path, policies: Sequence[str]) -> dict[str, Path]:
    """Where each policy run's ledger goes: ``path`` itself for one policy; else one file per
    policy, the name inserted before the suffix (``run.jsonl`` -> ``run.suanli.jsonl``)."""
    if len(policies) == 1:
        return {policies[0]: path}
    return {p: path.with_name(f"{path.stem}.{p}{path.suffix}") for p in policies}


def write_ledgers(
    result: SimulationResult, path: Path, key: SigningKey | None = None
) -> dict[str, Path]:
    """Write each policy run's signed ledger (and its heads file beside it); ``key`` defaults to
    a fixed simulation key (its public key is in the heads file). Returns policy -> path."""
    from suanli.ledger import save_ledger
    from suanli.ledger.runs import run_ledger

    key = key or SigningKey.from_seed(hashlib.sha256(b"suanli simulate ledger").digest())
    g = result.governance
    stamp = None if g is None else (g.policy.metadata.name, g.policy.metadata.version, g.sha256)
    paths = ledger_paths(path, list(result.runs))
    for name, run in result.runs.items():
        ledger = run_ledger(
            key, result.jobs, run.trace.placements, run.trace.rejections, result.cost,
            policy=stamp, approvals=None if run.engine is None else run.engine.approvals,
        )  # fmt: skip
        save_ledger(ledger, paths[name])
    return paths


def governance_options(
    policy_set: str | Path | None, approval_delay_h: float = DEFAULT_APPROVAL_DELAY_H
) -> GovernanceOptions | None:
    """``"default"``, a PolicySet path, or ``None``/``"none"`` as simulation options."""
    from suanli.governance import DEFAULT_POLICY

    if policy_set is None or str(policy_set).lower() == "none":
        return None
    path = DEFAULT_POLICY if str(policy_set).lower() == "default" else Path(policy_set)
    return GovernanceOptions.from_file(path, approval_delay_h)

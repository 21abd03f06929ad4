"""A simulation's policy runs and its lower bound in worker processes.

The runs are independent given what `suanli.sim.run.simulate` computes first (the sorted
jobs, the cost model, the shared feasibility, the base governance engine). Once it has, the
parent forks the workers (the ``fork`` start method: every worker inherits those inputs, so
no task ships them) and hands out one task per policy, then one for the bound: it builds
its candidates at once and then waits for its target, the runs' best objective. The
processes pull tasks from one queue, in order, so the bound never waits on a run that no
worker has taken.

What a worker sends back is pickled with every object that existed before the fork (the
scenario, the cost model, each job, each feasibility and option, the policy set, the base
engine) replaced by its index in a table both sides hold: the parent re-links the result to
its own objects, as an in-process run would have them, and the pickles stay small.

Progress is relayed: a worker reports ``(task, done, total)`` on a queue a few hundred times
per run, and the parent passes it on to the caller's progress callback while it waits.

A worker's error reaches the caller as it was raised when it is bad input (`InputError`),
otherwise as a `WorkerError` naming the task and the cause, with the worker's traceback; a
worker that dies is one too.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import multiprocessing
import operator
import os
import pickle
import sys
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from suanli.core.bound import BoundResult
from suanli.core.capacity import Grant
from suanli.core.cost import CostBreakdown
from suanli.core.options import Option
from suanli.core.scheduler import Explanation, Placement
from suanli.errors import InputError, WorkerError
from suanli.model import Job
from suanli.sim.run import Inputs, PolicyRun, Progress, bound_problem, bound_target

#: progress messages a worker sends per run (at most; plus the last)
PROGRESS_STEPS = 200

#: seconds the parent waits for a result before it relays progress again
POLL_S = 0.1


@dataclass(slots=True)
class _Shared:
    """What the workers inherit: the inputs, the table of pre-fork objects, the queues."""

    inputs: Inputs
    objects: list[object]
    index: dict[int, int]
    progress: Any  # multiprocessing SimpleQueue of (task, done, total)
    target: Any  # multiprocessing SimpleQueue: the bound's target, or _ABORT


#: set in the parent just before the workers fork, cleared after; read by the workers
_STATE: _Shared | None = None

_ABORT = "abort"


def run_in_workers(
    workers: int,
    names: Sequence[str],
    inputs: Inputs,
    *,
    bound: bool,
    progress: Progress | None,
) -> tuple[dict[str, PolicyRun], BoundResult | None]:
    """Each policy of ``names`` run on ``inputs``, and the bound if asked, in at most
    ``workers`` processes; the same runs and bound as in-process runs give."""
    global _STATE
    if _STATE is not None:
        raise RuntimeError("run_in_workers is not reentrant")
    ctx = multiprocessing.get_context("fork")
    objects = list(_pre_fork_objects(inputs))
    state = _Shared(
        inputs, objects, {id(o): i for i, o in enumerate(objects)}, ctx.SimpleQueue(),
        ctx.SimpleQueue(),
    )  # fmt: skip
    n_jobs = len(inputs.jobs)
    if progress:
        # the rows in the order an in-process run shows them
        for name in names:
            progress(f"policy {name}", 0, n_jobs)
        if bound:
            progress("lower bound", 0, 1)
    _STATE = state
    # what exists now is left out of the collector's passes (here and in the workers): a
    # worker's collections would otherwise walk, and so copy, every page it shares
    gc.freeze()
    try:
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(names) + bound), mp_context=ctx,
            initializer=_init_worker,
        )  # fmt: skip
        try:
            return _run(pool, state, names, bound, progress)
        finally:
            # a bound still waiting for its target is told to stop (the runs failed)
            state.target.put(_ABORT)
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        gc.unfreeze()
        _STATE = None
        state.progress.close()
        state.target.close()


def _run(
    pool: ProcessPoolExecutor,
    state: _Shared,
    names: Sequence[str],
    bound: bool,
    progress: Progress | None,
) -> tuple[dict[str, PolicyRun], BoundResult | None]:
    tasks: dict[Future[bytes], str] = {pool.submit(_policy_task, n): n for n in names}
    bound_future = pool.submit(_bound_task) if bound else None
    if bound_future is not None:
        tasks[bound_future] = "lower bound"
    runs: dict[str, PolicyRun] = {}
    result_bound: BoundResult | None = None
    pending = set(tasks)
    while pending:
        done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
        _relay(state, progress)
        for future in done:
            task = tasks[future]
            data = _result(future, task)
            if future is bound_future:
                result_bound = _loads(data)
                if progress:
                    progress(task, 1, 1)
                continue
            runs[task] = _loads(data)
            if progress:
                progress(f"policy {task}", len(state.inputs.jobs), len(state.inputs.jobs))
            if len(runs) == len(names) and bound_future is not None:
                state.target.put(bound_target(runs))
    _relay(state, progress)
    return {name: runs[name] for name in names}, result_bound


def _result(future: Future[bytes], task: str) -> bytes:
    """The task's pickled result; its error as the caller should see it."""
    label = task if task == "lower bound" else f"policy {task}"
    try:
        return future.result()
    except (InputError, WorkerError):
        raise
    except BrokenProcessPool as exc:
        raise WorkerError(label, f"a worker process died ({exc})") from None
    except Exception as exc:  # e.g. a result that could not be pickled
        problem = f"failed in a worker process: {type(exc).__name__}: {exc}"
        raise WorkerError(label, problem, str(exc.__cause__ or "").strip()) from None


def _relay(state: _Shared, progress: Progress | None) -> None:
    while not state.progress.empty():
        task, done, total = state.progress.get()
        if progress:
            progress(task, done, total)


def _pre_fork_objects(inputs: Inputs) -> Iterator[object]:
    """The objects a result refers to that both sides have: the scenario, the cost model, the
    policy set, the base engine's shared parts, every job. (Options are sent by value: one
    per placement, and indexing the 1.5 million of the generated week would cost more
    memory than the copies.)"""
    yield inputs.scenario
    yield inputs.cost
    if inputs.governance is not None:
        yield inputs.governance
        yield inputs.governance.policy
    if inputs.base is not None:
        yield inputs.base
        # shared by every run's engine with the base (`GovernanceEngine(static_from=...)`)
        yield inputs.base._dynamic
        yield inputs.base._limits
    yield from inputs.jobs


class _Pickler(pickle.Pickler):
    """Pre-fork objects as their index; a placement with its options as positions in the
    job's shared feasibility (the options it was offered are that feasibility's, or a part
    of them, in nearly every run)."""

    def __init__(self, file: io.BytesIO, state: _Shared) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._state = state

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is Placement:
            return _reduce_placement(obj, self._state)
        i = self._state.index.get(id(obj))
        if i is not None:
            return (_shared_object, (i,))
        names = _init_fields(kind)
        if names is not None:
            # by its constructor: a frozen dataclass's own state restore is slow
            return (kind, tuple([getattr(obj, n) for n in names]))
        return NotImplemented


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _init_fields(kind: type) -> tuple[str, ...] | None:
    """The fields of a slotted dataclass that its constructor sets exactly (every field an
    argument, no ``__post_init__``); None for any other type."""
    try:
        return _FIELDS[kind]
    except KeyError:
        pass
    names: tuple[str, ...] | None = None
    if dataclasses.is_dataclass(kind) and "__slots__" in vars(kind):
        fields = dataclasses.fields(kind)
        plain = all(f.init and f._field_type is dataclasses._FIELD for f in fields)  # type: ignore[attr-defined]
        if plain and not hasattr(kind, "__post_init__"):
            names = tuple(f.name for f in fields)
    _FIELDS[kind] = names
    return names


def _reduce_placement(p: Placement, state: _Shared) -> tuple[Any, tuple[Any, ...]]:
    f = state.inputs.shared.get(p.job.id)
    e = p.explanation
    if f is None:
        return (_placement, (p.job, p.option, p.start_h, p.end_h, p.cost, e, p.grant))
    options: tuple[Any, ...]
    if len(e.options) == len(f.options) and all(map(operator.is_, e.options, f.options)):
        options = ("all",)
    else:
        at = {id(o): k for k, o in enumerate(f.options)}
        offered = [at.get(id(o), -1) for o in e.options]
        options = ("value", e.options) if -1 in offered else ("at", tuple(offered))
    k = next((k for k, o in enumerate(f.options) if o is p.option), None)
    excluded = None if e.excluded is f.excluded else e.excluded
    explanation = (e.policy, e.reason, excluded, options, e.decided_h)
    return (_placement, (p.job, p.option if k is None else k, p.start_h, p.end_h, p.cost,
                         explanation, p.grant))  # fmt: skip


def _shared_object(i: int) -> object:
    return _parent_state().objects[i]


def _placement(
    job: Job,
    option: Option | int,
    start_h: float,
    end_h: float,
    cost: CostBreakdown,
    explanation: Explanation | tuple[Any, ...],
    grant: Grant,
) -> Placement:
    """A placement as `_reduce_placement` wrote it, with the parent's objects."""
    f = _parent_state().inputs.shared.get(job.id)
    if isinstance(option, int):
        assert f is not None
        option = f.options[option]
    if isinstance(explanation, tuple):
        assert f is not None
        policy, reason, excluded, (how, *what), decided_h = explanation
        if how == "all":
            offered = tuple(f.options)
        elif how == "at":
            offered = tuple(f.options[k] for k in what[0])
        else:
            offered = what[0]
        ex = f.excluded if excluded is None else excluded
        explanation = Explanation(policy, reason, ex, offered, decided_h)
    return Placement(job, option, start_h, end_h, cost, explanation, grant)


def _parent_state() -> _Shared:
    if _STATE is None:
        raise pickle.UnpicklingError("a worker's result read outside run_in_workers")
    return _STATE


def _dumps(value: object, state: _Shared) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, state).dump(value)
    return buffer.getvalue()


def _loads(data: bytes) -> Any:
    # without the collector: the many small objects would set off full collections over
    # the parent's whole heap (the jobs and their millions of options) while they load
    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(data)
    finally:
        if enabled:
            gc.enable()


# --- in the workers ---------------------------------------------------------------------


def _init_worker() -> None:
    """Fresh standard streams: the parent's may have been locked by one of its threads (the
    progress display's) at the fork, and a locked stream would hang the worker's writes."""
    sys.stdout = open(os.dup(1), "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    sys.stderr = open(os.dup(2), "w", encoding="utf-8", closefd=True)  # noqa: SIM115


def _state() -> _Shared:
    if _STATE is None:
        raise RuntimeError("a simulation worker started without its inputs")
    return _STATE


def _policy_task(name: str) -> bytes:
    state = _state()
    task = f"policy {name}"
    step = max(1, len(state.inputs.jobs) // PROGRESS_STEPS)
    last = [-step]

    def report(_task: str, done: int, total: int) -> None:
        if done - last[0] >= step or done == total:
            last[0] = done
            state.progress.put((task, done, total))

    with _as_worker_error(task):
        run = state.inputs.run_policy(name, report)
        return _dumps(run, state)


def _bound_task() -> bytes:
    """The bound: its candidates built while the last runs go on, then solved for their
    best objective."""
    state = _state()
    inputs = state.inputs
    with _as_worker_error("lower bound"):
        problem = bound_problem(inputs.jobs, inputs.feas, inputs.cost)
    target = state.target.get()
    if target == _ABORT:
        raise WorkerError("lower bound", "not computed: the policy runs failed")
    with _as_worker_error("lower bound"):
        return _dumps(problem.solve(target), state)


@contextmanager
def _as_worker_error(task: str) -> Iterator[None]:
    """Bad input as it is; any other error as a `WorkerError` with its traceback as text
    (the exception itself may not survive pickling)."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:
        detail = "".join(traceback.format_exception(exc)).strip()
        problem = f"failed in a worker process: {type(exc).__name__}: {exc}"
        raise WorkerError(task, problem, detail) from None

"""A simulation's policy runs in worker processes, one forked per run.

The runs are independent given what `suanli.sim.run.simulate` computes first (the sorted
jobs, the cost model, the shared feasibility, the base governance engine). Once it has, the
runs are taken in order by whoever is free: the parent itself (in place, as one process
would run them) and up to ``workers - 1`` worker processes, one forked per run (the
``fork`` start method: each inherits those inputs, so nothing big is sent to it). The
parent takes a share rather than only waiting, and a worker ends with its run rather than
living on in a pool, for memory: every process that touches the parent's objects (the jobs
and their options: reading one updates its reference count) holds its own copy of their
pages, and a worker's copy and its run's state are given back as soon as its run is done.
The lower bound needs the runs' best objective; `simulate` computes it in the parent
afterwards, where the jobs' options already are.

What a worker sends back is pickled with the objects that existed before the fork (the
scenario, the cost model, each job, the policy set, the base engine) replaced by their index
in a table both sides hold, and each placement's options as positions in the job's shared
feasibility: the parent re-links the result to its own objects, as an in-process run would
have them, and the pickles stay small.

Progress is relayed: a worker reports ``(task, done, total)`` on its pipe a few hundred
times per run, and the parent passes it on to the caller's progress callback (while it runs
a policy itself, a few hundred times per run from that run's own progress).

A worker's error reaches the caller as it was raised when it is bad input (`InputError`),
otherwise as a `WorkerError` naming the run and the cause, with the worker's traceback; a
worker that ends without a result is one too (and the other workers are stopped).
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
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from suanli.core.capacity import Grant
from suanli.core.cost import CostBreakdown
from suanli.core.options import Option
from suanli.core.scheduler import Explanation, Placement
from suanli.errors import InputError, WorkerError
from suanli.model import Job
from suanli.sim.run import Inputs, PolicyRun, Progress

#: progress messages a worker sends per run (at most; plus the last)
PROGRESS_STEPS = 200


@dataclass(slots=True)
class _Shared:
    """What the workers inherit: the inputs and the table of pre-fork objects."""

    inputs: Inputs
    objects: list[object]
    index: dict[int, int]


#: set in the parent just before the workers fork, cleared after; read by the workers
_STATE: _Shared | None = None


def run_in_workers(
    workers: int, names: Sequence[str], inputs: Inputs, *, progress: Progress | None
) -> dict[str, PolicyRun]:
    """Each policy of ``names`` run on ``inputs`` by this process or a worker process, at
    most ``workers`` at once; the same runs as in-process runs give, in the order of
    ``names``."""
    global _STATE
    if _STATE is not None:
        raise RuntimeError("run_in_workers is not reentrant")
    objects = list(_pre_fork_objects(inputs))
    state = _Shared(inputs, objects, {id(o): i for i, o in enumerate(objects)})
    if progress:
        # the rows in the order an in-process run shows them
        for name in names:
            progress(f"policy {name}", 0, len(inputs.jobs))
    _STATE = state
    # what exists now is left out of the collector's passes (here and in the workers): a
    # worker's collections would otherwise walk, and so copy, every page it shares
    gc.freeze()
    try:
        runs = _run(multiprocessing.get_context("fork"), state, names, workers, progress)
    finally:
        gc.unfreeze()
        _STATE = None
    return {name: runs[name] for name in names}


@dataclass(slots=True)
class _Worker:
    name: str
    process: BaseProcess
    pipe: Connection


def _run(
    ctx: Any, state: _Shared, names: Sequence[str], workers: int, progress: Progress | None
) -> dict[str, PolicyRun]:
    """The runs, taken in order by whoever is free: this process and ``workers - 1`` worker
    processes. (This process runs its share in place, as one process would: one process less
    holding a copy of the pages it touches.)"""
    todo = list(names)
    running: dict[Connection, _Worker] = {}
    runs: dict[str, PolicyRun] = {}
    n_jobs = len(state.inputs.jobs)

    def start() -> None:
        while todo and len(running) < workers - 1:
            name = todo.pop(0)
            recv, send = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_worker, args=(name, send), daemon=True)
            process.start()
            send.close()  # the worker's end: its end of file is then the worker's
            running[recv] = _Worker(name, process, recv)

    def take(block: bool) -> None:
        """What the workers have sent; a finished worker's place goes to the next run."""
        for pipe in wait(list(running), timeout=None if block else 0):
            assert isinstance(pipe, Connection)
            worker = running[pipe]
            try:
                kind, payload = pipe.recv()
            except EOFError:
                worker.process.join()
                code = worker.process.exitcode
                raise WorkerError(
                    f"policy {worker.name}",
                    f"a worker process ended without a result (exit code {code})",
                ) from None
            if kind == "progress":
                if progress:
                    progress(*payload)
                continue
            del running[pipe]
            pipe.close()
            worker.process.join()
            if kind == "error":
                raise payload
            start()  # the next run's worker first: it need not wait for this result to load
            runs[worker.name] = _loads(payload)
            if progress:
                progress(f"policy {worker.name}", n_jobs, n_jobs)

    step = max(1, n_jobs // PROGRESS_STEPS)
    last = [-step]

    def own(task: str, done: int, total: int) -> None:
        # this process's run reports as usual and, now and then, takes the workers' news
        if progress:
            progress(task, done, total)
        if done - last[0] >= step or done == total:
            last[0] = done
            take(block=False)

    try:
        start()
        while todo or running:
            if todo:
                name = todo.pop(0)
                last[0] = -step
                runs[name] = state.inputs.run_policy(name, own)
            else:
                take(block=True)
    finally:
        # after an error: the other runs are stopped
        for worker in running.values():
            worker.process.terminate()
            worker.process.join()
            worker.pipe.close()
    return runs


def _pre_fork_objects(inputs: Inputs) -> Iterator[object]:
    """The objects a result refers to that both sides have: the scenario, the cost model, the
    policy set, the base engine, every job. (A placement's options are written as positions
    in its job's shared feasibility by `_reduce_placement`: an index of the 1.5 million
    options of the generated week would itself take more memory than it saves. A run's
    engine comes back with its own copy of the tables it shares with the base engine: a
    pickler is not asked about dicts.)"""
    yield inputs.scenario
    yield inputs.cost
    if inputs.governance is not None:
        yield inputs.governance
        yield inputs.governance.policy
    if inputs.base is not None:
        yield inputs.base
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
        if all(f.init for f in fields) and not hasattr(kind, "__post_init__"):
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


def _worker(name: str, pipe: Connection) -> None:
    """One policy run; its result, its progress and its error go to ``pipe``."""
    # fresh standard streams: the parent's may have been locked by one of its threads (the
    # progress display's) at the fork, and a locked stream would hang this process's writes
    sys.stdout = open(os.dup(1), "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    sys.stderr = open(os.dup(2), "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    task = f"policy {name}"
    try:
        state = _STATE
        if state is None:
            raise RuntimeError("a simulation worker started without its inputs")
        step = max(1, len(state.inputs.jobs) // PROGRESS_STEPS)
        last = [-step]

        def report(_task: str, done: int, total: int) -> None:
            if done - last[0] >= step or done == total:
                last[0] = done
                pipe.send(("progress", (task, done, total)))

        run = state.inputs.run_policy(name, report)
        pipe.send(("result", _dumps(run, state)))
    except InputError as exc:
        pipe.send(("error", exc))
    except BaseException as exc:  # everything else, as text (it may not survive pickling)
        detail = "".join(traceback.format_exception(exc)).strip()
        problem = f"failed in a worker process: {type(exc).__name__}: {exc}"
        pipe.send(("error", WorkerError(task, problem, detail)))
    finally:
        pipe.close()

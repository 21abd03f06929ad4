"""The `suanli` command line: a thin layer over library functions.

Every command turns `suanli.errors.InputError` into a one-line message naming the place and
the problem, with exit code 2, before anything is written.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from suanli.errors import InputError, WorkerError

app = typer.Typer(
    name="suanli",
    help="Suanli (算力): coordinate AI workloads across a network of compute sites.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Suanli (算力): coordinate AI workloads across a network of compute sites."""


def fail(exc: InputError) -> typer.Exit:
    """Print a bad-input error and return the exit to raise (code 2)."""
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar on stderr, fed by ``(task, done, total)`` callbacks."""
    if not enabled:
        yield lambda _task, _done, _total: None
        return
    columns = (
        TextColumn("{task.description:<20}"),
        BarColumn(),
        TextColumn("{task.completed:>7,}/{task.total:<7,}"),
        TimeElapsedColumn(),
    )
    tasks: dict[str, TaskID] = {}
    with Progress(*columns, console=err, transient=False) as bar:

        def update(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(task, total=total)
            bar.update(tasks[task], completed=done, total=total)

        yield update


def _cpus() -> int:
    """The CPUs this process may run on (its affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@app.command()
def simulate(
    scenario: Annotated[
        str, typer.Option(help="Built-in scenario name or path to a scenario YAML file.")
    ] = "china-edwc",
    workload: Annotated[
        Path | None,
        typer.Option(help="Workload file (CSV or Parquet job schema, or an openb pod list)."),
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            help="Policy to compare (repeatable): nearest, cheapest, greenest, suanli, fifo, "
            "slurm, kueue, suanli-queue (default: the first four)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated workload.")] = 7,
    days: Annotated[float, typer.Option(help="Days of generated arrivals.")] = 7.0,
    load: Annotated[
        float | None,
        typer.Option(
            help="Offered load of the generated or trace workload: accelerator-hours asked "
            "over the network's accelerator-hours while jobs arrive (default: the workload's "
            "own, 0.32 for a generated week, 0.9 for pai-2020).",
            show_default=False,
        ),
    ] = None,
    report: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path(
        "suanli-report.html"
    ),
    no_report: Annotated[bool, typer.Option("--no-report", help="Write no report.")] = False,
    bound: Annotated[
        bool, typer.Option("--bound/--no-bound", help="Compute the lower bound on the objective.")
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")
    ] = False,
    policy_set: Annotated[
        str,
        typer.Option(
            "--policy-set",
            help="Governance PolicySet: 'default' (the embedded one), a YAML path, or 'none' "
            "(the interim residency rule only).",
        ),
    ] = "default",
    approval_delay_h: Annotated[
        float,
        typer.Option(
            "--approval-delay-h", help="Hours the simulated regulator takes to decide a request."
        ),
    ] = 4.0,
    ledger: Annotated[
        Path | None,
        typer.Option(
            help="Write the run's signed audit ledger here (and its heads beside it); with "
            "several policies one file each, the policy's name inserted before the suffix."
        ),
    ] = None,
    ledger_key: Annotated[
        Path | None,
        typer.Option(
            help="Sign the ledger with this key file (64 hex digits; default: a fixed "
            "simulation key)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Policy runs at once, in this process and forked workers (default: the CPUs "
            "it may use; 1: all in this process). The results are the same.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Replay a workload on a scenario under each policy and compare them."""
    from suanli.core.policies import is_queueing
    from suanli.ledger import SigningKey
    from suanli.report.html import write_report
    from suanli.report.summary import queueing_table, summary_dict, summary_table
    from suanli.sim.run import DEFAULT_POLICIES
    from suanli.simulation import simulate as run_simulation
    from suanli.simulation import write_ledgers

    try:
        if days <= 0:
            raise InputError("--days", f"must be > 0, got {days:g}")
        names = policy or list(DEFAULT_POLICIES)
        key = SigningKey.load(ledger_key) if ledger_key is not None else None
        n_workers = workers if workers is not None else _cpus()
        with progress_bar(sys.stderr.isatty() or not as_json) as update:
            result = run_simulation(
                scenario, workload, names, seed=seed, days=days, bound=bound, progress=update,
                policy_set=policy_set, approval_delay_h=approval_delay_h, workers=n_workers,
                load=load,
            )  # fmt: skip
    except InputError as exc:
        raise fail(exc) from None
    except WorkerError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        if exc.detail:
            err.print(f"the worker's traceback:\n{exc.detail}", highlight=False, markup=False)
        raise typer.Exit(code=1) from None
    if ledger is not None:
        written = write_ledgers(result, ledger, key)
        if not as_json:
            for path in written.values():
                err.print(f"ledger: {path}", highlight=False)
    if not no_report:
        write_report(result, report)
    if as_json:
        typer.echo(json.dumps(summary_dict(result), indent=None))
        return
    # a pipe or a file gets the whole table, not one cut to 80 columns
    console = Console() if sys.stdout.isatty() else Console(width=200)
    console.print(summary_table(result))
    if any(is_queueing(name) for name in result.runs):
        console.print(queueing_table(result))
    if not no_report:
        console.print(f"report: {report}")


from suanli.frag.cli import frag_command  # noqa: E402

app.command("frag")(frag_command)


from suanli.service_cli import register as _register_service  # noqa: E402

_register_service(app)

from suanli.audit_cli import audit_app, policy_app  # noqa: E402

app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")


def main() -> None:
    app()

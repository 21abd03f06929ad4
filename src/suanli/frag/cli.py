"""``suanli frag``: the FGD paper's packing experiment as a thin command over the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from suanli.errors import InputError, SuanliError
from suanli.frag.experiment import SweepOutcome, parse_seeds, run_single, run_sweep

_err = Console(stderr=True)


def _progress_bar() -> tuple[Progress, object]:
    bar = Progress(
        TextColumn("[bold]frag"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
    )
    return bar, bar.add_task("runs", total=None)


def frag_command(
    nodes: Annotated[
        Path | None, typer.Option("--nodes", help="Node list CSV (optionally .gz).")
    ] = None,
    pods: Annotated[
        Path | None, typer.Option("--pods", help="Pod list CSV (optionally .gz).")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="Policy, comma list or 'all' (default fgd; sweep: all)."),
    ] = None,
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds: '42-51' or '42,43'.")] = "42-51",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report here.")
    ] = None,
    sweep: Annotated[
        Path | None,
        typer.Option("--sweep", help="Trace folder: run every policy on every pod list in it."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder of --sweep.")] = Path(
        "frag-sweep"
    ),
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Existing Ray cluster.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Local Ray CPUs (default: all).")
    ] = None,
    no_ray: Annotated[
        bool, typer.Option("--no-ray", help="Run in this process, without Ray.")
    ] = False,
) -> None:
    """Reproduce the FGD paper's packing experiment (unallocated GPU % at 100% / 130% arrival)."""
    bar, task = _progress_bar()

    def tick(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)  # type: ignore[arg-type]

    try:
        seed_list = parse_seeds(seeds)
        with bar:
            if sweep is not None:
                outcome = run_sweep(
                    sweep,
                    out,
                    seed_list,
                    policy or "all",
                    workers=workers,
                    address=ray_address,
                    use_ray=not no_ray,
                    progress=tick,
                )
            else:
                if nodes is None or pods is None:
                    raise InputError("suanli frag", "needs --nodes and --pods, or --sweep DIR")
                outcome = run_single(
                    nodes,
                    pods,
                    policy or "fgd",
                    seed_list,
                    workers=workers,
                    address=ray_address,
                    use_ray=not no_ray,
                    progress=tick,
                )
    except SuanliError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(2) from None
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(outcome.html())
    if as_json:
        sys.stdout.write(json.dumps(outcome.json_object()) + "\n")
    else:
        _print_table(outcome)


def _print_table(outcome: SweepOutcome) -> None:
    table = Table(title="Unallocated GPU (%)")
    for col in ("trace", "policy", "@100%", "sd", "@130%", "sd", "published@100", "decisions/s"):
        table.add_column(col)
    for s in outcome.summaries:
        ref = outcome.published.get((s.trace, s.policy, 100))
        table.add_row(
            s.trace,
            s.policy,
            f"{s.mean[100]:.2f}",
            f"{s.sd[100]:.2f}",
            f"{s.mean[130]:.2f}",
            f"{s.sd[130]:.2f}",
            "" if ref is None else f"{ref:.2f}",
            f"{s.decisions_per_s:,.0f}",
        )
    Console().print(table)

"""The `suanli` command line: a thin layer over library functions."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="suanli",
    help="Suanli (算力): coordinate AI workloads across a network of compute sites.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Suanli (算力): coordinate AI workloads across a network of compute sites."""


def main() -> None:
    app()

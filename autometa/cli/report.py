"""``autometa report RUN_DIR``: (re)write a search's ``report.html`` from its run directory.

The search writes the report itself when it ends; this command rebuilds it, e.g.
while a search still runs, after ``autometa compress``, or for a study in a
database (``--storage``). It reads files and the study only: no data set, no model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from autometa.cli.app import app


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="Run directory of a search, e.g. runs/<name>.")],
    out: Annotated[
        Optional[Path], typer.Option("--out", help="Where to write the page (default: RUN_DIR/report.html).")
    ] = None,
    storage: Annotated[
        Optional[str],
        typer.Option("--storage", help="The study's storage when it is not in the run directory (a database URL)."),
    ] = None,
) -> None:
    """Write the search's self-contained HTML report: plots, learning curves, the winner's episodes."""
    from autometa.errors import RunDirectoryError
    from autometa.search.report_html import write_html_report

    if not run_dir.is_dir():
        raise RunDirectoryError(f"{run_dir}: no such run directory; pass the folder a search wrote (runs/<name>)")
    started = time.perf_counter()
    path = write_html_report(run_dir, storage=storage, out=out)
    typer.echo(f"{path}: {path.stat().st_size / 1024:.0f} KiB in {time.perf_counter() - started:.1f} s")

"""The journey's commands: ``search``, ``train``, ``compress``, ``evaluate`` and ``export``.

Each parses its arguments, calls the Python API with the plugin host, and renders
the result with rich; heavy libraries are imported inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from autometa.cli.app import app, console, plugin_host


@app.command("search")
def search(
    file: Annotated[Path, typer.Argument(help="Recipe YAML file with a search space under 'strategy'.")],
    storage: Annotated[
        Optional[str],
        typer.Option(
            "--storage", envvar="AUTOMETA_STORAGE", show_envvar=True,
            help="Optuna storage: a database URL or a journal file (default: the run directory's); "
            "the variable keeps a password off the command line.",
        ),
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option("--workers", min=1, help="Local worker processes (default: search.workers).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")] = False,
) -> None:
    """Search meta-learning strategies with Optuna; rerunning the command resumes the study."""
    from autometa.errors import SearchFailed
    from autometa.search.parent_watch import interrupt_on_sigterm
    from autometa.search.run import run_search
    from autometa.search.view import render_summary

    interrupt_on_sigterm()  # a scheduler's stop (SLURM, Kubernetes) ends the search like Ctrl-C

    summary = run_search(file, plugin_host(), storage=storage, workers=workers, quiet=quiet, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    elif not quiet:
        render_summary(summary, console())
    if not summary.best:
        raise SearchFailed(summary.no_result())


@app.command("train")
def train_command(
    file: Annotated[Path, typer.Argument(help="Recipe without search nodes, e.g. runs/<name>/best/strategy.yaml.")],
    out: Annotated[
        Optional[Path], typer.Option("--out", help="Checkpoint and metrics folder (default: <output_dir>/<name>/train).")
    ] = None,
    device: Annotated[
        Optional[str], typer.Option("--device", help="auto, cpu, cuda or mps (default: the recipe's device).")
    ] = None,
) -> None:
    """Meta-train one fixed strategy, then score it on the validation and test episodes; rerunning resumes."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from autometa.learning.trainer import train_recipe
    from autometa.recipe.loading import load_recipe

    registry = plugin_host().registry
    recipe = load_recipe(file, registry)
    out_console = console()
    columns = (TextColumn("training"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[status]}"), TimeRemainingColumn())
    with Progress(*columns, console=out_console) as progress:
        bar = progress.add_task("train", total=recipe.training.meta_steps, status="")

        def on_progress(step: int, total: int, metrics: dict) -> None:
            status = f"loss {metrics['loss']:.3f}  train acc {100 * metrics['accuracy']:.1f}%"
            progress.update(bar, completed=step, status=status)

        report = train_recipe(recipe, registry, workdir=out, device=device, on_progress=on_progress)
        progress.update(bar, completed=report.result.steps)  # also when resuming a finished run
    result = report.result
    speed = f"{result.tasks_per_second:.1f} tasks/s on {result.device.type}" if result.tasks_per_second else "no meta-steps run now"
    out_console.print(f"validation accuracy: {result.val}", highlight=False)
    out_console.print(f"test accuracy:       {report.test}", highlight=False)
    out_console.print(
        f"checkpoint: {result.checkpoint} ({result.steps} steps, {speed}); "
        f"scores in {report.workdir / 'metrics.json'}",
        highlight=False, soft_wrap=True,
    )


@app.command("compress")
def compress_command(
    run_dir: Annotated[Path, typer.Argument(help="Run directory of a search, e.g. runs/<name>.")],
    recipe: Annotated[
        Optional[Path],
        typer.Option("--recipe", help="Take 'compression' and 'export' from this recipe (default: the run's)."),
    ] = None,
) -> None:
    """Prune, distil and quantize the best trial, export and verify it, and write its model card."""
    from autometa.deploy.pipeline import compress_run
    from autometa.recipe.loading import load_recipe

    registry = plugin_host().registry
    artifacts = compress_run(run_dir, registry, recipe=load_recipe(recipe, registry) if recipe else None)
    console().print((artifacts / "model_card.md").read_text(encoding="utf-8"), markup=False, highlight=False)
    typer.echo(f"artifacts: {artifacts}")


@app.command("evaluate")
def evaluate_command(
    artifact: Annotated[Path, typer.Argument(help="Exported predictor (.pt2 or .onnx).")],
    data: Annotated[Path, typer.Option("--data", help="Recipe whose data set and test episodes to use.")],
    episodes: Annotated[
        Optional[int], typer.Option("--episodes", min=2, help="Number of test episodes (default: the recipe's).")
    ] = None,
) -> None:
    """Score an exported predictor on a data set's fixed meta-test episodes (accuracy with 95% CI)."""
    from autometa.deploy.pipeline import evaluate_artifact

    result = evaluate_artifact(artifact, data, plugin_host().registry, episodes=episodes)
    typer.echo(f"test accuracy: {result}")


@app.command("export")
def export_command(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint, e.g. runs/<name>/best/checkpoint.pt.")],
    formats: Annotated[
        list[str], typer.Option("--format", "-f", help="Exporter name (repeatable): torch_export, onnx.")
    ] = ["torch_export"],
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: export/ beside it).")] = None,
) -> None:
    """Re-export a checkpoint's predictor (uncompressed) and verify each file."""
    from autometa.deploy.pipeline import export_checkpoint

    for report in export_checkpoint(checkpoint, formats, plugin_host().registry, out):
        typer.echo(
            f"{report.file}: {report.size_bytes / 1024:.1f} KiB, logits within {report.tolerance} "
            f"(max {report.max_abs_diff:.2g}), loads without autometa"
        )

"""The ``autometa`` command: parses arguments, calls the Python API, renders with rich.

Heavy libraries (torch, optuna) are imported inside the commands that need them,
so ``autometa --help`` answers instantly. Every :class:`~autometa.errors.AutometaError`
is printed as one line and exits with its code (2 for usage errors); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from autometa import __version__
from autometa.errors import AutometaError

app = typer.Typer(
    help="AutoML for meta-learning: search few-shot strategies, compress the winner, ship a predictor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
plugins_app = typer.Typer(help="List and check installed plugins.", no_args_is_help=True)
recipe_app = typer.Typer(help="Validate, show and describe recipes.", no_args_is_help=True)
app.add_typer(plugins_app, name="plugins")
app.add_typer(recipe_app, name="recipe")

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autometa {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = None,
    plugin: Annotated[
        Optional[list[str]],
        typer.Option("--plugin", "-p", help="Load a plugin module by dotted path (repeatable)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug
    if plugin:
        from autometa.plugins import load_plugin_module

        for module in plugin:
            load_plugin_module(module)


def _console():
    from rich.console import Console

    return Console()


# --------------------------------------------------------------------- plugins


@plugins_app.command("list")
def plugins_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every component of every loaded plugin: kind, name, distribution, version, description."""
    from autometa.plugins import get_registry

    registry = get_registry()
    rows = [
        {
            "kind": entry.kind,
            "name": entry.name,
            "plugin": entry.source.plugin,
            "distribution": entry.source.distribution,
            "version": entry.source.version,
            "description": entry.description,
        }
        for by_name in registry.components.values()
        for entry in sorted(by_name.values(), key=lambda e: e.name)
    ]
    problems = [str(p) for p in registry.problems]
    if as_json:
        typer.echo(json.dumps({"components": rows, "problems": problems}, indent=2))
        return
    from rich import box
    from rich.table import Table

    # One heading row per kind and no vertical rules, so descriptions stay readable in 80 columns.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("description", ratio=1)
    table.add_column("from", no_wrap=True)
    kind = None
    for row in rows:
        if row["kind"] != kind:
            kind = row["kind"]
            table.add_row(f"[bold]{kind}[/]", "", "", end_section=False)
        table.add_row(f"  {row['name']}", row["description"], f"{row['distribution']} {row['version']}")
    console = _console()
    console.print(table)
    for problem in problems:
        console.print(f"[yellow]problem:[/] {problem}", highlight=False)


# ---------------------------------------------------------------------- recipe


@recipe_app.command("validate")
def recipe_validate(file: Annotated[Path, typer.Argument(help="Recipe YAML file.")]) -> None:
    """Check a recipe: structure, plugin names and options, search ranges, episode shapes against the data."""
    from autometa.data import load_data
    from autometa.episodes import check_recipe_shapes
    from autometa.recipe import load_recipe

    recipe = load_recipe(file)
    data = load_data(recipe.data)
    check_recipe_shapes(recipe, data)
    counts = ", ".join(f"{split} {n}" for split, n in data.class_counts().items())
    typer.echo(f"{file}: ok (run '{recipe.name}'; classes: {counts})")


@recipe_app.command("show")
def recipe_show(file: Annotated[Path, typer.Argument(help="Recipe YAML file.")]) -> None:
    """Print the resolved recipe, with every default filled in."""
    from autometa.recipe import dump_recipe, load_recipe

    typer.echo(dump_recipe(load_recipe(file)), nl=False)


@recipe_app.command("schema")
def recipe_schema() -> None:
    """Print the recipe's JSON Schema (for editor completion)."""
    from autometa.recipe import recipe_json_schema

    typer.echo(json.dumps(recipe_json_schema(), indent=2))


@plugins_app.command("check")
def plugins_check(
    name: Annotated[Optional[str], typer.Argument(help="Only this plugin or distribution.")] = None,
) -> None:
    """Validate plugins: hook names and signatures, option schemas, name clashes, imports."""
    from autometa.plugin_check import check_plugins

    problems = check_plugins(name)
    for problem in problems:
        typer.echo(f"problem: {problem}")
    if problems:
        raise typer.Exit(1)
    typer.echo(f"ok: no problems found in {name or 'any installed plugin'}")


@plugins_app.command("new")
def plugins_new(
    name: Annotated[str, typer.Argument(help="Distribution name of the new plugin package, e.g. autometa-cutmix.")],
    kind: Annotated[str, typer.Option("--kind", "-k", help="Component kind: dataset, backbone, learner, ...")],
    directory: Annotated[Path, typer.Option("--dir", help="Create the package folder inside this folder.")] = Path("."),
) -> None:
    """Scaffold a pip-installable plugin package (pyproject, hook module, test, README)."""
    from autometa.scaffold import scaffold_plugin

    project = scaffold_plugin(name, kind, directory)
    typer.echo(f"created {project}; next: pip install -e {project} && pytest {project}")


# ---------------------------------------------------------------------- search


@app.command("search")
def search(
    file: Annotated[Path, typer.Argument(help="Recipe YAML file with a search space under 'strategy'.")],
    storage: Annotated[
        Optional[str],
        typer.Option("--storage", help="Optuna storage: a database URL or a journal file (default: the run directory's)."),
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option("--workers", min=1, help="Local worker processes (default: search.workers).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")] = False,
) -> None:
    """Search meta-learning strategies with Optuna; rerunning the command resumes the study."""
    from autometa.search import run_search
    from autometa.search_view import render_summary

    summary = run_search(file, storage=storage, workers=workers, quiet=quiet, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    elif not quiet:
        render_summary(summary, _console())


# ----------------------------------------------------------------------- train


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

    from autometa.recipe import load_recipe
    from autometa.trainer import train_recipe

    recipe = load_recipe(file)
    console = _console()
    columns = (TextColumn("meta-training"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[status]}"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("train", total=recipe.training.meta_steps, status="")

        def on_progress(step: int, total: int, metrics: dict) -> None:
            status = f"loss {metrics['loss']:.3f}  train acc {100 * metrics['accuracy']:.1f}%"
            progress.update(bar, completed=step, status=status)

        report = train_recipe(recipe, workdir=out, device=device, on_progress=on_progress)
        progress.update(bar, completed=report.result.steps)  # also when resuming a finished run
    result = report.result
    speed = f"{result.tasks_per_second:.1f} tasks/s on {result.device.type}" if result.tasks_per_second else "already trained"
    console.print(f"validation accuracy: {result.val}", highlight=False)
    console.print(f"test accuracy:       {report.test}", highlight=False)
    console.print(
        f"checkpoint: {result.checkpoint} ({result.steps} meta-steps, {speed}); "
        f"scores in {report.workdir / 'metrics.json'}",
        highlight=False, soft_wrap=True,
    )


# ------------------------------------------------------- compress, evaluate, export


@app.command("compress")
def compress_command(
    run_dir: Annotated[Path, typer.Argument(help="Run directory of a search, e.g. runs/<name>.")],
    recipe: Annotated[
        Optional[Path],
        typer.Option("--recipe", help="Take 'compression' and 'export' from this recipe (default: the run's)."),
    ] = None,
) -> None:
    """Prune, distil and quantize the best trial, export and verify it, and write its model card."""
    from autometa.compression import compress_run
    from autometa.recipe import load_recipe

    artifacts = compress_run(run_dir, recipe=load_recipe(recipe) if recipe else None)
    _console().print((artifacts / "model_card.md").read_text(encoding="utf-8"), markup=False, highlight=False)
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
    from autometa.deploy import evaluate_artifact

    result = evaluate_artifact(artifact, data, episodes=episodes)
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
    from autometa.deploy import export_checkpoint

    for report in export_checkpoint(checkpoint, formats, out):
        typer.echo(
            f"{report.file}: {report.size_bytes / 1024:.1f} KiB, logits within {report.tolerance} "
            f"(max {report.max_abs_diff:.2g}), loads without autometa"
        )


# ------------------------------------------------------------------------ main


def main() -> None:
    """Console entry point: runs the app, turning user errors into one line and exit code."""
    try:
        app(standalone_mode=False)
    except AutometaError as exc:
        if _state["debug"]:
            raise
        _error_line(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _error_line("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _error_line("aborted")
        sys.exit(1)
    except Exception as exc:
        # Click's usage errors (bad option, missing argument, unknown command); typer
        # may vendor click, so they are recognised by shape rather than by class.
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            message = exc.format_message()
            if message:  # empty when a group without a command just printed its help
                _error_line(f"{message.rstrip('.')}; see 'autometa --help'")
            sys.exit(exc.exit_code)
        raise


def _error_line(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


if __name__ == "__main__":
    main()

"""``autometa plugins``: list installed components with their options, check plugins, scaffold a new one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from autometa.cli.app import console, plugin_host, plugins_app


@plugins_app.command("list")
def plugins_list(
    kind: Annotated[Optional[str], typer.Option("--kind", "-k", help="Only components of this kind.")] = None,
    brief: Annotated[bool, typer.Option("--brief", help="Names and descriptions only, no options.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every component of every loaded plugin: kind, name, description, options, distribution."""
    from autometa.components.component import describe_options
    from autometa.components.registry import unknown_name_message
    from autometa.errors import PluginError

    registry = plugin_host().registry
    if kind is not None and kind not in registry.kinds:
        raise PluginError(unknown_name_message("kind", kind, list(registry.kinds)))
    rows = [
        {
            "kind": entry.kind,
            "name": entry.name,
            "plugin": entry.source.plugin,
            "distribution": entry.source.distribution,
            "version": entry.source.version,
            "description": entry.description,
            "options": describe_options(entry.cls.Options),
        }
        for entry in registry.entries()
        if kind is None or entry.kind == kind
    ]
    problems = [str(p) for p in registry.problems]
    if as_json:
        typer.echo(json.dumps({"components": rows, "problems": problems}, indent=2))
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    # One heading row per kind and no vertical rules, so descriptions stay readable in 80 columns.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("description", ratio=1)
    table.add_column("from", no_wrap=True)
    heading = None
    for row in rows:
        if row["kind"] != heading:
            heading = row["kind"]
            table.add_row(f"[bold]{heading}[/]", "", "", end_section=False)
        table.add_row(f"  {row['name']}", row["description"], f"{row['distribution']} {row['version']}")
        for option in [] if brief else row["options"]:  # one line each: '--json' has the whole text
            text = Text(f"· {option['name']}: {_option_text(option)}", style="dim", no_wrap=True, overflow="ellipsis")
            table.add_row("", text, "")
    out = console()
    out.print(table)
    for problem in problems:
        out.print(f"[yellow]problem:[/] {problem}", highlight=False)


def _option_text(option: dict[str, Any]) -> str:
    """``float = 0.4, inner-loop learning rate``."""
    default = option["default"]
    shown = "required" if default == "required" else f"= {json.dumps(default)}"
    return f"{option['type']} {shown}, {option['description']}"


@plugins_app.command("check")
def plugins_check(
    name: Annotated[Optional[str], typer.Argument(help="Only this plugin or distribution.")] = None,
) -> None:
    """Validate plugins: hook names and signatures, option schemas, name clashes, imports."""
    from autometa.authoring.check import check_plugins

    problems = check_plugins(plugin_host(), name)
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
    from autometa.authoring.scaffold import scaffold_plugin

    project = scaffold_plugin(name, kind, directory)
    typer.echo(f"created {project}; next: pip install -e {project} && pytest {project}")

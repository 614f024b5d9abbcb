"""``autometa recipe``: validate a recipe against the plugins and its data, show it resolved, print its schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from autometa.cli.app import plugin_host, recipe_app


@recipe_app.command("validate")
def recipe_validate(file: Annotated[Path, typer.Argument(help="Recipe YAML file.")]) -> None:
    """Check a recipe: structure, plugin names and options, search ranges, episode shapes against the data."""
    from autometa.data.loading import load_recipe_data
    from autometa.recipe.loading import load_recipe

    registry = plugin_host().registry
    recipe = load_recipe(file, registry)
    data = load_recipe_data(recipe, registry)
    for warning in data.warnings:
        typer.echo(f"warning: {warning}", err=True)
    counts = ", ".join(f"{split} {n}" for split, n in data.class_counts().items())
    typer.echo(f"{file}: ok (run '{recipe.name}'; classes: {counts})")


@recipe_app.command("show")
def recipe_show(file: Annotated[Path, typer.Argument(help="Recipe YAML file.")]) -> None:
    """Print the resolved recipe, with every default filled in."""
    from autometa.recipe.loading import dump_recipe, load_recipe

    typer.echo(dump_recipe(load_recipe(file, plugin_host().registry)), nl=False)


@recipe_app.command("schema")
def recipe_schema() -> None:
    """Print the recipe's JSON Schema with every installed component's options (for editor completion)."""
    from autometa.recipe.json_schema import recipe_json_schema

    typer.echo(json.dumps(recipe_json_schema(plugin_host().registry), indent=2))

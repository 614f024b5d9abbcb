"""Authoring plugins: the checker (``plugins check``), the scaffold (``plugins new``) and test helpers."""

from autometa.authoring.check import check_component, check_plugins, hook_specs, inspect_hooks
from autometa.authoring.scaffold import recipe_usage, scaffold_kinds, scaffold_plugin

__all__ = [
    "check_component",
    "check_plugins",
    "hook_specs",
    "inspect_hooks",
    "recipe_usage",
    "scaffold_kinds",
    "scaffold_plugin",
]

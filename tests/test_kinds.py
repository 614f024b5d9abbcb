"""The one table of kinds: hooks, base classes, constructors and recipe slots all agree with it,
and every component's options are discoverable (``plugins list --json``, ``recipe schema``)."""

from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path

import pytest
from pydantic import Field
from typer.testing import CliRunner

import autometa
from autometa import PluginOptions, Regularizer, hookimpl
from autometa.authoring.check import hook_specs
from autometa.cli import app
from autometa.components import ComponentKind
from autometa.plugins import KINDS, constructor_context, default_host, hookspecs
from autometa.recipe import Recipe, recipe_json_schema

_BUILT_AS = re.compile(r"built as\s+``cls\(([^`]*)\)``", re.S)
_BASE = re.compile(r"subclasses :class:`autometa\.(\w+)`")


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_each_hookspec_documents_the_base_class_and_its_real_constructor(kind):
    doc = inspect.getdoc(getattr(hookspecs, kind.hook))
    assert kind.hook in hook_specs(), f"no hookspec {kind.hook}"
    (base,) = _BASE.findall(doc)[:1]
    assert getattr(autometa, base) is kind.base, f"{kind.hook} names autometa.{base}, the table {kind.base}"
    documented = [arg.split("=")[0].strip() for arg in _BUILT_AS.search(doc).group(1).split(",")]
    assert documented == ["options", *constructor_context(kind)], (
        f"{kind.hook}'s docstring builds cls({', '.join(documented)}); "
        f"{kind.base.__name__}.__init__ takes (options, {', '.join(constructor_context(kind))})"
    )


def test_every_register_hook_is_a_kind():
    hooks = {name for name in hook_specs() if name.startswith("register_")}
    assert hooks == {kind.hook for kind in KINDS.values()}


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_each_slot_is_a_recipe_field_of_that_kind(kind):
    """Walk the slot through the recipe's models; a ``*`` step continues in a built-in component's options."""
    model, field = Recipe, None
    for step in kind.slot.split("."):
        if step == "*":
            model = default_host().registry.get(_kind_of(field), "maml").cls.Options
            continue
        if (model, step) == (Recipe, "strategy"):  # the search space: a Strategy whose values may be search nodes
            model = autometa.recipe.Strategy
            continue
        field = model.model_fields[step.removesuffix("[]")]
        model = next((a for a in _args(field.annotation) if isinstance(a, type) and hasattr(a, "model_fields")), None)
    assert _kind_of(field) == kind.name


def _args(annotation):
    import typing

    return [annotation, *typing.get_args(annotation)]


def _kind_of(field) -> str | None:
    import typing

    stack = [*field.metadata, field.annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, ComponentKind):
            return item.kind
        stack += list(getattr(item, "__metadata__", ())) + list(typing.get_args(item))
    return None


class Smoothness(Regularizer):
    """A third-party regularizer with documented options."""

    name = "smoothness"

    class Options(PluginOptions):
        strength: float = Field(0.25, gt=0, description="how strongly weights are smoothed")
        layers: list[str] = Field(default_factory=lambda: ["backbone.*"], description="layers it applies to")


@hookimpl
def register_regularizers():
    return [Smoothness]


@pytest.fixture
def third_party():
    default_host().register(sys.modules[__name__], "third-party-smoothness", "autometa-smoothness")
    yield
    default_host().unregister("third-party-smoothness")


def test_a_third_party_components_options_are_listed(third_party):
    result = CliRunner().invoke(app, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = [r for r in json.loads(result.stdout)["components"] if r["name"] == "smoothness"]
    assert row["distribution"] == "autometa-smoothness" and row["kind"] == "regularizer"
    assert row["options"] == [
        {"name": "strength", "type": "float", "default": 0.25, "description": "how strongly weights are smoothed"},
        {"name": "layers", "type": "list[str]", "default": ["backbone.*"], "description": "layers it applies to"},
    ]
    table = CliRunner().invoke(app, ["plugins", "list", "--kind", "regularizer"], env={"COLUMNS": "200"})
    assert "· strength: float = 0.25, how strongly weights are smoothed" in table.stdout


def test_builtin_options_are_listed_with_types_and_defaults():
    result = CliRunner().invoke(app, ["plugins", "list", "--json", "--kind", "learner"])
    (maml,) = [r for r in json.loads(result.stdout)["components"] if r["name"] == "maml"]
    options = {o["name"]: o for o in maml["options"]}
    assert options["inner_lr"]["type"] == "float" and options["inner_lr"]["default"] == 0.4
    assert options["inner_optimizer"]["type"] == "inner_optimizer component"
    assert options["head_init"]["type"] == "'zero' | 'learned'"


def test_an_unknown_kind_is_one_line(third_party):
    result = CliRunner().invoke(app, ["plugins", "list", "--kind", "learners"])
    assert result.exit_code != 0 and "did you mean 'learner'" in str(result.exception)


def test_the_recipe_schema_completes_components_and_their_options(third_party):
    schema = recipe_json_schema(default_host().registry)
    regularizer = schema["$defs"]["component.regularizer"]
    names, with_options = regularizer["anyOf"]
    assert "smoothness" in names["enum"] and "mr_maml" in names["enum"]
    strength = with_options["properties"]["smoothness"]["properties"]["strength"]
    assert {"$ref": "#/$defs/SearchNode"} in strength["anyOf"]  # searchable, like every strategy value
    assert strength["description"] == "how strongly weights are smoothed"
    learner = schema["$defs"]["component.learner"]["anyOf"][1]["properties"]["maml"]["properties"]
    assert learner["inner_lr"]["default"] == 0.4
    inner_optimizer = learner["inner_optimizer"]["anyOf"][0]
    assert inner_optimizer["$ref"] == "#/$defs/component.inner_optimizer"
    strategy = schema["$defs"]["Strategy"]["properties"]
    assert strategy["regularizers"]["anyOf"][0]["items"] == {"$ref": "#/$defs/component.regularizer"}
    assert strategy["learner"]["anyOf"][0]["$ref"] == "#/$defs/component.learner"
    _assert_refs_resolve(schema, schema)


def _assert_refs_resolve(node, schema):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref:
            assert ref.removeprefix("#/$defs/") in schema["$defs"], ref
        for value in node.values():
            _assert_refs_resolve(value, schema)
    elif isinstance(node, list):
        for value in node:
            _assert_refs_resolve(value, schema)


def test_the_recipe_schema_command_prints_plugin_options(third_party):
    result = CliRunner().invoke(app, ["recipe", "schema"])
    assert result.exit_code == 0
    assert '"smoothness"' in result.stdout and "how strongly weights are smoothed" in result.stdout


def test_the_shipped_recipes_validate_against_the_schema():
    import jsonschema
    import yaml

    schema = recipe_json_schema(default_host().registry)
    for path in sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "data": {"dataset": "glyphs"}, "strategy": {"learner": {"mamll": {}}}}, schema)

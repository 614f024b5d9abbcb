"""The recipe's JSON Schema, with every installed component and its options, for editor completion.

``autometa recipe schema`` prints it. Fields that name a component (marked by
:data:`~autometa.components.component.KIND_KEY`) accept the installed names of
that kind, or ``{name: {options}}`` with that component's own options schema, so
an editor completes ``learner: {maml: {inner_lr: ...}}``. Any option value may
also be a search node (``{log_uniform: [0.01, 1.0]}``); ``recipe validate`` says
where one is not allowed.
"""

from __future__ import annotations

from typing import Any

from autometa.components.component import KIND_KEY
from autometa.components.registry import Registry
from autometa.recipe.schema import Recipe, Strategy

_RANGE = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}

#: A search node (see :mod:`autometa.recipe.space`).
SEARCH_NODE: dict[str, Any] = {
    "description": "a search node: Optuna chooses the value",
    "oneOf": [
        {"type": "object", "required": ["choice"], "additionalProperties": False,
         "properties": {"choice": {"type": ["array", "object"]}}},
        {"type": "object", "required": ["int"], "additionalProperties": False,
         "properties": {"int": _RANGE, "step": {"type": "integer", "minimum": 1}, "log": {"type": "boolean"}}},
        {"type": "object", "required": ["uniform"], "additionalProperties": False, "properties": {"uniform": _RANGE}},
        {"type": "object", "required": ["log_uniform"], "additionalProperties": False,
         "properties": {"log_uniform": _RANGE}},
    ],
}


def recipe_json_schema(registry: Registry) -> dict[str, Any]:
    """JSON Schema of a recipe: ``strategy`` described by :class:`Strategy`, components by their plugins."""
    defs: dict[str, Any] = {"SearchNode": SEARCH_NODE}
    schema = _model_schema(Recipe, "", defs)
    strategy = _searchable(_model_schema(Strategy, "", defs), defs)
    defs["Strategy"] = strategy
    description = schema["properties"]["strategy"].get("description", "")
    schema["properties"]["strategy"] = {"$ref": "#/$defs/Strategy", "description": description}
    for kind in registry.kinds:
        defs[f"component.{kind}"] = _component_schema(kind, registry, defs)
    schema["$defs"] = defs
    return _link_components(schema)


def _model_schema(model: Any, prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """``model``'s schema with its nested definitions moved into ``defs`` under ``prefix``."""
    schema = model.model_json_schema(ref_template=f"#/$defs/{prefix}{{model}}")
    for name, value in schema.pop("$defs", {}).items():
        defs[f"{prefix}{name}"] = value
    return schema


def _component_schema(kind: str, registry: Registry, defs: dict[str, Any]) -> dict[str, Any]:
    """A component of ``kind``: one of the installed names, or ``{name: {options}}``."""
    names = registry.names(kind)
    options = {}
    for name in names:
        cls = registry.get(kind, name).cls
        schema = _searchable(_model_schema(cls.Options, f"{kind}.{name}.", defs), defs)
        schema["description"] = cls.summary()
        options[name] = schema
    return {
        "anyOf": [
            {"type": "string", "enum": names},
            {"type": "object", "properties": options, "additionalProperties": False,
             "minProperties": 1, "maxProperties": 1},
        ],
    }


def _searchable(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Let every property of an object schema, and of the models it nests, also be a search node."""
    for ref in _model_refs(schema):
        defs[ref] = _searchable(defs[ref], defs)
    schema["properties"] = {
        name: {"anyOf": [value, {"$ref": "#/$defs/SearchNode"}], **_annotations(value)}
        for name, value in schema.get("properties", {}).items()
    }
    return schema


def _model_refs(value: Any) -> set[str]:
    """The definitions ``value`` refers to (nested option models, not components)."""
    if isinstance(value, list):
        return set().union(*map(_model_refs, value)) if value else set()
    if not isinstance(value, dict) or KIND_KEY in value:
        return set()
    found = {value["$ref"].removeprefix("#/$defs/")} if "$ref" in value else set()
    return found.union(*map(_model_refs, value.values()))


def _annotations(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: schema[key] for key in ("description", "default", "title") if key in schema}


def _link_components(value: Any) -> Any:
    """Replace every field marked with :data:`KIND_KEY` by a reference to its kind's definition."""
    if isinstance(value, list):
        return [_link_components(item) for item in value]
    if not isinstance(value, dict):
        return value
    if KIND_KEY in value:
        return {"$ref": f"#/$defs/component.{value[KIND_KEY]}", **_annotations(value)}
    return {key: _link_components(item) for key, item in value.items()}

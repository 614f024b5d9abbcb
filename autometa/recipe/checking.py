"""Checking a recipe against the installed plugins: every component name and option, every search range.

The pydantic models of :mod:`autometa.recipe.schema` check the structure; the
options of components (a learner's ``inner_lr``, a data set's ``root``) belong
to the plugins, so :func:`check_tree` walks the recipe, looks each component up
in the registry and validates its options against that plugin's ``Options``
model, expanding search nodes into their candidate values on the way.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from autometa.components.component import ComponentKind, ComponentRef
from autometa.components.registry import Registry
from autometa.errors import AutometaError, RecipeError
from autometa.recipe.space import candidates, contains_search, node_kind


class TreeError(Exception):
    """A problem at a dotted path of the recipe (turned into a ``file:line`` error by the loader)."""

    def __init__(self, path: str, message: str):
        self.path, self.message = path, message


def check_tree(
    model: type[BaseModel], value: Any, path: str, registry: Registry, *,
    allow_search: bool, skip: Collection[str] = frozenset(),
) -> None:
    """Validate ``value`` against ``model`` key by key, descending into components.

    Component names and options are looked up in ``registry``. Raises
    :class:`TreeError` ``(path, message)`` for the first problem; with
    ``allow_search`` every search node is expanded into its candidates first.
    """
    if not isinstance(value, dict):
        raise TreeError(path or "(top)", f"expected a mapping of options, got {value!r}")
    fields = model.model_fields
    for key, item in value.items():
        here = join(path, str(key))
        if key not in fields:
            raise TreeError(here, unknown_key(str(key), list(fields)))
        if key in skip:
            continue
        field = fields[key]
        if not allow_search and node_kind(item):
            raise TreeError(here, "search nodes are only allowed under 'strategy'")
        for candidate in _candidates(item, here) if allow_search else [item]:
            _check_value(field.annotation, field.metadata, candidate, here, registry, allow_search)
    for name, field in fields.items():
        if field.is_required() and name not in value:
            raise TreeError(join(path, name), "required key is missing")


def _candidates(value: Any, path: str) -> list[Any]:
    try:
        return candidates(value, path)
    except RecipeError as exc:
        raise TreeError(path, str(exc).split(": ", 1)[-1]) from None


def _check_value(
    annotation: Any, metadata: list, value: Any, path: str, registry: Registry, allow_search: bool
) -> None:
    kind = _component_kind(annotation, metadata)
    if kind is not None:
        if value is None and _is_optional(annotation):
            return
        _check_component(kind, value, path, registry, allow_search)
        return
    inner = _list_item(annotation)
    if inner is not None and isinstance(value, list):
        for i, item in enumerate(value):
            here = f"{path}.{i}"
            for candidate in _candidates(item, here) if allow_search else [item]:
                _check_value(inner, [], candidate, here, registry, allow_search)
        return
    sub = model_class(annotation)
    if sub is not None and isinstance(value, dict):
        check_tree(sub, value, path, registry, allow_search=allow_search)
        return
    try:
        TypeAdapter(typing.Annotated[(annotation, *metadata)] if metadata else annotation).validate_python(value)
    except ValidationError as exc:
        raise TreeError(path, first_message(exc)) from None


def _check_component(kind: str, value: Any, path: str, registry: Registry, allow_search: bool) -> None:
    try:
        ref = ComponentRef.parse(value)
    except ValueError as exc:
        raise TreeError(path, str(exc)) from None
    try:
        cls = registry.get(kind, ref.name).cls
    except AutometaError as exc:
        raise TreeError(path, str(exc)) from None
    check_tree(cls.Options, ref.options, join(path, ref.name), registry, allow_search=allow_search)
    if not contains_search(ref.options):
        try:
            cls.Options.model_validate(ref.options)
        except ValidationError as exc:
            raise TreeError(join(path, ref.name), first_message(exc)) from None


def _component_kind(annotation: Any, metadata: list) -> str | None:
    for item in metadata:
        if isinstance(item, ComponentKind):
            return item.kind
    for arg in typing.get_args(annotation) if typing.get_origin(annotation) is not list else ():
        if typing.get_origin(arg) is typing.Annotated:
            found = _component_kind(arg, list(arg.__metadata__))
            if found:
                return found
    if typing.get_origin(annotation) is typing.Annotated:
        return _component_kind(typing.get_args(annotation)[0], list(annotation.__metadata__))
    return None


def _is_optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _list_item(annotation: Any) -> Any | None:
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return item
    return None


def model_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f" (allowed: {', '.join(known)})"
    return f"unknown key '{key}'{hint}"


def first_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else err["msg"]


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_stages(strategy: dict[str, Any], meta_steps: int) -> None:
    """Pretraining fits in the budget: every candidate of ``strategy.pretrain.steps`` is at most
    ``training.meta_steps`` (equal: pretraining only; 0: meta-training only)."""
    for pretrain in _candidates(strategy.get("pretrain", {}), "strategy.pretrain"):
        steps = pretrain.get("steps", 0) if isinstance(pretrain, dict) else 0
        for value in _candidates(steps, "strategy.pretrain.steps"):
            if isinstance(value, int) and value > meta_steps:
                raise TreeError(
                    "strategy.pretrain.steps",
                    f"a candidate pretrains for {value} steps, more than training.meta_steps ({meta_steps}), "
                    "the steps of all stages together; lower it or raise training.meta_steps",
                )

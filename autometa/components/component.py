"""What every plugin-provided class has in common: a name, a description, an ``Options`` model.

A *component* is a class a plugin hands to autometa through one of the
``register_*`` hooks (see :mod:`autometa.plugins.hookspecs`): a data set, a backbone, a
meta-learner, and so on. Each has a ``name`` (how recipes refer to it), a
docstring whose first line is its description, and an ``Options`` model (pydantic)
that validates the options a recipe passes to it. autometa builds a component as
``cls(options, **context)``, where the context depends on the kind (a backbone
gets the input shape, a learner gets its backbone, ...).

Recipes refer to a component either by name (``learner: protonet``) or by name
with options (``learner: {maml: {inner_steps: 5}}``); both become a
:class:`ComponentRef`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema, to_jsonable_python


class PluginOptions(BaseModel):
    """Base of every component's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class Component:
    """Base of every plugin-provided class (see the module docstring)."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[PluginOptions]] = PluginOptions

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring: the one-line description users see."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


#: The JSON-schema key marking a field that names a component (its value: the kind).
KIND_KEY = "x-autometa-kind"


@dataclass(frozen=True)
class ComponentKind:
    """Marks a recipe field as naming a component of ``kind`` (used as ``Annotated`` metadata).

    The field's JSON schema carries the kind as ``x-autometa-kind``, so the recipe
    schema can put the installed components of that kind and their options there.
    """

    kind: str

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {**handler(schema), KIND_KEY: self.kind}


@dataclass
class ComponentRef:
    """A component chosen by name, with its (not yet validated) options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: Any) -> ComponentRef:
        """Accept ``"name"``, ``{"name": {options}}`` or an existing reference."""
        if isinstance(value, ComponentRef):
            return value
        if isinstance(value, str) and value:
            return cls(value)
        if isinstance(value, dict) and len(value) == 1:
            (name, options), = value.items()
            if isinstance(name, str) and (options is None or isinstance(options, dict)):
                return cls(name, dict(options or {}))
        raise ValueError(
            "expected a component name or a mapping {name: {options}}, "
            f"got {value!r}"
        )

    def to_data(self) -> str | dict[str, dict[str, Any]]:
        """The recipe form: the bare name when there are no options."""
        return {self.name: self.options} if self.options else self.name

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda ref: ref.to_data()
            ),
            json_schema_input_schema=core_schema.union_schema(
                [
                    core_schema.str_schema(),
                    core_schema.dict_schema(core_schema.str_schema(), core_schema.any_schema()),
                ]
            ),
        )


def component_type(kind: str) -> Any:
    """The type of a recipe field that names a component of ``kind``.

    Use it in ``Options`` models so recipes can choose nested components, e.g. a
    learner's ``inner_optimizer: component_type("inner_optimizer") = "sgd"``; the
    recipe checker then validates the name and the component's own options.
    """

    return Annotated[ComponentRef, ComponentKind(kind)]


def describe_options(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Every option of a component's ``Options`` model: name, type, default (``"required"`` if none),
    description, in declaration order (what ``autometa plugins list`` shows)."""
    rows = []
    for name, field_info in model.model_fields.items():
        if field_info.is_required():
            default: Any = "required"
        else:
            default = to_jsonable_python(field_info.get_default(call_default_factory=True), fallback=str)
        rows.append({
            "name": name,
            "type": type_name(field_info.annotation, field_info.metadata),
            "default": default,
            "description": field_info.description or "",
        })
    return rows


def type_name(annotation: Any, metadata: list[Any] = ()) -> str:
    """A short, readable name of an option's type: ``int``, ``float | None``, ``'mlp' | 'lstm'``,
    ``inner_optimizer component``, ``list[regularizer component]``."""
    for item in metadata:
        if isinstance(item, ComponentKind):
            return f"{item.kind} component"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return type_name(args[0], list(annotation.__metadata__))
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))

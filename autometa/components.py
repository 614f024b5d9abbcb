"""What every plugin-provided class has in common.

A *component* is a class a plugin hands to autometa through one of the
``register_*`` hooks (see :mod:`autometa.hookspecs`): a data set, a backbone, a
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

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler
from pydantic_core import core_schema


class PluginOptions(BaseModel):
    """Base of every component's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class Component:
    """Base of every plugin-provided class (see the module docstring)."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    Options: ClassVar[type[PluginOptions]] = PluginOptions

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring: the one-line description users see."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


@dataclass(frozen=True)
class ComponentKind:
    """Marks a recipe field as naming a component of ``kind`` (used as ``Annotated`` metadata)."""

    kind: str


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
    from typing import Annotated

    return Annotated[ComponentRef, ComponentKind(kind)]

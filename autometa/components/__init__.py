"""Components: what every plugin-provided class has in common, and the registry that holds them."""

from autometa.components.component import (
    Component,
    ComponentKind,
    ComponentRef,
    PluginOptions,
    component_type,
    describe_options,
    type_name,
)
from autometa.components.registry import (
    PluginProblem,
    PluginSource,
    RegisteredComponent,
    Registry,
    unknown_name_message,
)

__all__ = [
    "Component",
    "ComponentKind",
    "ComponentRef",
    "PluginOptions",
    "component_type",
    "describe_options",
    "type_name",
    "PluginProblem",
    "PluginSource",
    "RegisteredComponent",
    "Registry",
    "unknown_name_message",
]

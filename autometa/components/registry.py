"""The registry: every component by kind and name, and the problems met while loading plugins.

The plugin host (:mod:`autometa.plugins`) fills one from the loaded plugins;
everything that builds a component from a recipe (data, learners, compression
stages, exporters) is handed the registry and asks it by kind and name.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from autometa.components.component import Component, ComponentRef
from autometa.errors import PluginError


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin came from: its name and the distribution that ships it."""

    plugin: str
    distribution: str
    version: str = ""


@dataclass(frozen=True)
class RegisteredComponent:
    """One component in the registry."""

    kind: str
    name: str
    cls: type
    source: PluginSource

    @property
    def description(self) -> str:
        return self.cls.summary() if issubclass(self.cls, Component) else (self.cls.__doc__ or "").strip()


@dataclass(frozen=True)
class PluginProblem:
    """Something wrong with a plugin, reported instead of raised."""

    source: PluginSource
    message: str

    def __str__(self) -> str:
        dist = f"{self.source.distribution} {self.source.version}".strip()
        return f"plugin '{self.source.plugin}' ({dist}): {self.message}"


@dataclass
class Registry:
    """Every component by kind and name, plus the problems met while loading.

    ``kinds`` lists the kinds it holds (the plugin host passes the table of kinds);
    asking for another kind is a programming error.
    """

    kinds: tuple[str, ...]
    components: dict[str, dict[str, RegisteredComponent]] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        for kind in self.kinds:
            self.components.setdefault(kind, {})

    def add(self, kind: str, cls: type, source: PluginSource) -> None:
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name:
            self.problems.append(PluginProblem(source, f"{kind} class {getattr(cls, '__name__', cls)} has no 'name'"))
            return
        existing = self.components[kind].get(name)
        if existing is not None:
            self.problems.append(
                PluginProblem(
                    source,
                    f"{kind} '{name}' is already registered by plugin "
                    f"'{existing.source.plugin}' ({existing.source.distribution}); "
                    "rename one of them",
                )
            )
            return
        self.components[kind][name] = RegisteredComponent(kind, name, cls, source)

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def entries(self) -> list[RegisteredComponent]:
        """Every component, kind by kind (in the table's order), by name within a kind."""
        return [entry for kind in self.kinds for _, entry in sorted(self.components[kind].items())]

    def get(self, kind: str, name: str) -> RegisteredComponent:
        """The component ``name`` of ``kind``; a :class:`PluginError` with suggestions if absent."""
        try:
            return self.components[kind][name]
        except KeyError:
            raise PluginError(unknown_name_message(kind, name, self.names(kind))) from None

    def options(self, kind: str, ref: ComponentRef | str | dict) -> Any:
        """Validate a reference's options against its component's ``Options`` model."""
        ref = ComponentRef.parse(ref)
        cls = self.get(kind, ref.name).cls
        return cls.Options.model_validate(ref.options)

    def create(self, kind: str, ref: ComponentRef | str | dict, **context: Any) -> Any:
        """Build component ``ref`` of ``kind`` as ``cls(options, **context)``."""
        ref = ComponentRef.parse(ref)
        cls = self.get(kind, ref.name).cls
        return cls(cls.Options.model_validate(ref.options), **context)


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    """'unknown learner 'mamll'; did you mean 'maml'? (known: ...)'"""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listed = ", ".join(known) if known else "none installed"
    return f"unknown {kind.replace('_', ' ')} '{name}'{hint} (known: {listed})"

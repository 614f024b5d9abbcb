"""The plugin manager: loads plugins and keeps one registry of their components.

Plugins come from three places, in this order:

1. the entry-point group ``autometa`` (autometa's built-in plugins live there too);
2. modules named with ``--plugin pkg.module`` (or :func:`load_plugin_module`);
3. objects registered in-process with :func:`register_plugin` (handy in tests).

Set ``AUTOMETA_DISABLE_PLUGIN_AUTOLOAD=1`` to load only autometa's own entry points
(third-party ones are skipped), as ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` does for pytest.

A plugin that fails to import, or a component name registered twice, never
crashes the CLI: it is recorded as a :class:`PluginProblem` (with the plugin and
its distribution) and shown by ``autometa plugins list`` / ``check``.
"""

from __future__ import annotations

import difflib
import importlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from autometa import hookspecs
from autometa.components import Component, ComponentRef
from autometa.errors import PluginError

DISABLE_AUTOLOAD_ENV = "AUTOMETA_DISABLE_PLUGIN_AUTOLOAD"
ENTRY_POINT_GROUP = "autometa"
BUILTIN_DISTRIBUTION = "autometa"

#: Component kinds and the hook that registers each.
KINDS: dict[str, str] = {
    "dataset": "register_datasets",
    "backbone": "register_backbones",
    "learner": "register_learners",
    "inner_optimizer": "register_inner_optimizers",
    "regularizer": "register_regularizers",
    "pruner": "register_pruners",
    "distiller": "register_distillers",
    "quantizer": "register_quantizers",
    "exporter": "register_exporters",
}


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
    """Every component by kind and name, plus the problems met while loading."""

    components: dict[str, dict[str, RegisteredComponent]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    problems: list[PluginProblem] = field(default_factory=list)

    def add(self, kind: str, cls: type, source: PluginSource) -> None:
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name:
            self.problems.append(PluginProblem(source, f"{kind} class {cls.__name__} has no 'name'"))
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


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("autometa")
    pm.add_hookspecs(hookspecs)
    return pm


_manager: pluggy.PluginManager | None = None
_sources: dict[int, PluginSource] = {}
_load_problems: list[PluginProblem] = []
_extra_modules: list[str] = []
_registry: Registry | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loading entry points on first use."""
    global _manager
    if _manager is None:
        _manager = _new_manager()
        _load_entry_points(_manager)
        for module in _extra_modules:
            _load_module(_manager, module)
    return _manager


def _register(pm: pluggy.PluginManager, plugin: object, source: PluginSource) -> None:
    try:
        pm.register(plugin, name=source.plugin)
    except (ValueError, pluggy.PluginValidationError) as exc:
        reason = " ".join(str(exc).split())  # pluggy's refusal spans several lines
        _load_problems.append(PluginProblem(source, f"cannot be registered: {reason}"))
        return
    _sources[id(plugin)] = source


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    only_builtin = os.environ.get(DISABLE_AUTOLOAD_ENV, "") not in ("", "0")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else "?"
        if only_builtin and dist != BUILTIN_DISTRIBUTION:
            continue
        source = PluginSource(ep.name, dist, ep.dist.version if ep.dist else "")
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not take the CLI down
            _load_problems.append(PluginProblem(source, f"failed to import {ep.value}: {exc!r}"))
            continue
        _register(pm, plugin, source)


def _load_module(pm: pluggy.PluginManager, dotted: str) -> None:
    source = PluginSource(dotted, "--plugin")
    try:
        module = importlib.import_module(dotted)
    except Exception as exc:
        raise PluginError(f"--plugin {dotted}: cannot import it ({exc!r}); check the module path") from None
    _register(pm, module, source)


def load_plugin_module(dotted: str) -> None:
    """Load a plugin module by dotted path, as ``--plugin`` does."""
    global _registry
    if dotted in _extra_modules:
        return
    _extra_modules.append(dotted)
    if _manager is not None:
        _load_module(_manager, dotted)
    _registry = None


def loaded_plugin_modules() -> list[str]:
    """The modules loaded with ``--plugin`` (worker processes load them again)."""
    return list(_extra_modules)


def register_plugin(plugin: object, name: str, distribution: str = "(in-process)") -> None:
    """Register a plugin object in this process (tests, notebooks)."""
    global _registry
    _register(get_plugin_manager(), plugin, PluginSource(name, distribution))
    _registry = None


def unregister_plugin(name: str) -> None:
    """Undo :func:`register_plugin`."""
    global _registry
    get_plugin_manager().unregister(name=name)
    _registry = None


def source_of(plugin: object) -> PluginSource:
    return _sources.get(id(plugin), PluginSource(str(plugin), "?"))


def get_registry() -> Registry:
    """The registry of every component from every loaded plugin (built once, cached)."""
    global _registry
    if _registry is not None:
        return _registry
    pm = get_plugin_manager()
    registry = Registry(problems=list(_load_problems))
    for kind, hook_name in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            source = source_of(impl.plugin)
            try:
                classes = impl.function()
            except Exception as exc:
                registry.problems.append(PluginProblem(source, f"{hook_name}() raised {exc!r}"))
                continue
            if classes is None:
                continue
            if not isinstance(classes, (list, tuple)):
                registry.problems.append(
                    PluginProblem(
                        source,
                        f"{hook_name}() must return a list of component classes, got {type(classes).__name__}",
                    )
                )
                continue
            for cls in classes:
                registry.add(kind, cls, source)
    _registry = registry
    return registry


def reset() -> None:
    """Forget every loaded plugin; the next call reloads from entry points."""
    global _manager, _registry
    _manager = None
    _registry = None
    _sources.clear()
    _load_problems.clear()
    _extra_modules.clear()

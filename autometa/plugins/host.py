"""The plugin host: all plugin state in one object, the pluggy manager and the registry built from it.

Plugins come from three places, in this order:

1. the entry-point group ``autometa`` (autometa's built-in plugins live there too);
2. modules named with ``--plugin pkg.module`` (:meth:`PluginHost.load_module`);
3. objects registered in-process with :meth:`PluginHost.register` (handy in tests).

Set ``AUTOMETA_DISABLE_PLUGIN_AUTOLOAD=1`` to load only autometa's own entry points
(third-party ones are skipped), as ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` does for pytest.

A plugin that fails to import, or a component name registered twice, never
crashes the CLI: it is recorded as a :class:`~autometa.components.PluginProblem`
(with the plugin and its distribution) and shown by ``autometa plugins list`` /
``check``. The commands use one host, :func:`default_host`; the search, the
trainer and compression are handed it (or its registry) explicitly.
"""

from __future__ import annotations

import importlib
import logging
import os
from importlib.metadata import entry_points
from typing import Any

import pluggy

from autometa.components.registry import PluginProblem, PluginSource, Registry
from autometa.errors import PluginError
from autometa.plugins import hookspecs
from autometa.plugins.kinds import KINDS

DISABLE_AUTOLOAD_ENV = "AUTOMETA_DISABLE_PLUGIN_AUTOLOAD"
ENTRY_POINT_GROUP = "autometa"
BUILTIN_DISTRIBUTION = "autometa"

log = logging.getLogger("autometa.plugins")


class PluginHost:
    """The plugin manager, where each plugin came from, and the registry of their components.

    Entry points are loaded on first use; the registry is rebuilt after any
    plugin is added or removed.
    """

    def __init__(self) -> None:
        self._manager: pluggy.PluginManager | None = None
        self._loaded: list[tuple[PluginSource, object]] = []  # every plugin object met, registered or refused
        self._problems: list[PluginProblem] = []
        self._modules: list[str] = []
        self._registry: Registry | None = None

    # ------------------------------------------------------------------ loading

    @property
    def manager(self) -> pluggy.PluginManager:
        """The pluggy manager, with every entry-point and ``--plugin`` module registered."""
        if self._manager is None:
            manager = pluggy.PluginManager("autometa")
            manager.add_hookspecs(hookspecs)
            self._manager = manager
            self._load_entry_points(manager)
            for module in self._modules:
                self._load_module(manager, module)
        return self._manager

    @property
    def hook(self) -> Any:
        """The hook caller (``host.hook.search_started(...)``)."""
        return self.manager.hook

    def load_module(self, dotted: str) -> None:
        """Load a plugin module by dotted path, as ``--plugin`` does (a second call is a no-op)."""
        if dotted in self._modules:
            return
        self._modules.append(dotted)
        if self._manager is not None:
            self._load_module(self._manager, dotted)
        self._registry = None

    @property
    def loaded_modules(self) -> list[str]:
        """The modules loaded with ``--plugin`` (worker processes load them again)."""
        return list(self._modules)

    def register(self, plugin: object, name: str, distribution: str = "(in-process)") -> None:
        """Register a plugin object in this process (tests, notebooks)."""
        self._register(self.manager, plugin, PluginSource(name, distribution))
        self._registry = None

    def unregister(self, name: str) -> None:
        """Undo :meth:`register`."""
        plugin = self.manager.unregister(name=name)
        self._loaded = [(source, p) for source, p in self._loaded if p is not plugin]
        self._registry = None

    def reset(self) -> None:
        """Forget every plugin (entry points, ``--plugin`` modules, registered objects); the next use
        reloads the entry points, e.g. after ``pip install``-ing a plugin in a running notebook."""
        self.__init__()

    def plugins(self) -> list[tuple[PluginSource, object]]:
        """Every plugin object met while loading, with its source (also those pluggy refused)."""
        _ = self.manager  # loads the entry points
        return list(self._loaded)

    def source_of(self, plugin: object) -> PluginSource:
        return next((source for source, p in self._loaded if p is plugin), PluginSource(str(plugin), "?"))

    def _register(self, pm: pluggy.PluginManager, plugin: object, source: PluginSource) -> None:
        self._loaded.append((source, plugin))
        try:
            pm.register(plugin, name=source.plugin)
        except (ValueError, pluggy.PluginValidationError) as exc:
            reason = " ".join(str(exc).split())  # pluggy's refusal spans several lines
            self._problems.append(PluginProblem(source, f"cannot be registered: {reason}"))

    def _load_entry_points(self, pm: pluggy.PluginManager) -> None:
        only_builtin = os.environ.get(DISABLE_AUTOLOAD_ENV, "") not in ("", "0")
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else "?"
            if only_builtin and dist != BUILTIN_DISTRIBUTION:
                continue
            source = PluginSource(ep.name, dist, ep.dist.version if ep.dist else "")
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not take the CLI down
                self._problems.append(PluginProblem(source, f"failed to import {ep.value}: {exc!r}"))
                continue
            self._register(pm, plugin, source)

    def _load_module(self, pm: pluggy.PluginManager, dotted: str) -> None:
        try:
            module = importlib.import_module(dotted)
        except Exception as exc:
            raise PluginError(f"--plugin {dotted}: cannot import it ({exc!r}); check the module path") from None
        self._register(pm, module, PluginSource(dotted, "--plugin"))

    # ----------------------------------------------------------------- registry

    @property
    def registry(self) -> Registry:
        """Every component from every loaded plugin, by kind and name (built once, until plugins change)."""
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _build_registry(self) -> Registry:
        hook = self.hook  # loads the plugins first, recording their problems
        registry = Registry(kinds=tuple(KINDS), problems=list(self._problems))
        for kind in KINDS.values():
            for impl in getattr(hook, kind.hook).get_hookimpls():
                source = self.source_of(impl.plugin)
                try:
                    classes = impl.function()
                except Exception as exc:
                    registry.problems.append(PluginProblem(source, f"{kind.hook}() raised {exc!r}"))
                    continue
                if classes is None:
                    continue
                if not isinstance(classes, (list, tuple)):
                    registry.problems.append(
                        PluginProblem(
                            source,
                            f"{kind.hook}() must return a list of component classes, got {type(classes).__name__}",
                        )
                    )
                    continue
                for cls in classes:
                    registry.add(kind.name, cls, source)
        return registry

    # ---------------------------------------------------------------- observers

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call an observer hook; an observer that raises is logged, never fatal."""
        try:
            getattr(self.hook, hook)(**kwargs)
        except Exception as exc:
            log.warning("observer hook %s raised %r; the search goes on", hook, exc)


_DEFAULT_HOST = PluginHost()


def default_host() -> PluginHost:
    """The host the ``autometa`` command uses: installed entry points plus ``--plugin`` modules."""
    return _DEFAULT_HOST

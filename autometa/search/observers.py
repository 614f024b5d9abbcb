"""The observers a recipe names under ``search.observers``, called on the events the observer hooks see.

:func:`recipe_observers` builds them from the registry and registers one plugin
object that forwards each observer hook to each of them, so the search notifies
hooks and recipe observers alike (``plugins.notify``). An observer that raises is
logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from autometa.plugins.hookspecs import hookimpl
from autometa.plugins.host import PluginHost
from autometa.plugins.observer import Observer
from autometa.recipe.schema import Recipe

log = logging.getLogger("autometa.search")

#: The name the forwarding plugin is registered under while a search runs.
PLUGIN_NAME = "recipe observers"


class RecipeObservers:
    """A plugin object forwarding the observer hooks to the recipe's :class:`Observer` components."""

    def __init__(self, observers: list[Observer]):
        self.observers = observers

    def _call(self, event: str, **kwargs: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(**kwargs)
            except Exception as exc:
                log.warning("observer '%s' raised %r in %s; the search goes on", observer.name, exc, event)

    @hookimpl
    def search_started(self, study: Any, recipe: Any, run_dir: Any) -> None:
        self._call("search_started", study=study, recipe=recipe, run_dir=run_dir)

    @hookimpl
    def trial_started(self, trial: Any, strategy: Any) -> None:
        self._call("trial_started", trial=trial, strategy=strategy)

    @hookimpl
    def trial_finished(self, trial: Any, state: str, values: Any, reason: str | None, metrics: dict) -> None:
        self._call("trial_finished", trial=trial, state=state, values=values, reason=reason, metrics=metrics)

    @hookimpl
    def search_finished(self, study: Any, run_dir: Any, summary: Any) -> None:
        self._call("search_finished", study=study, run_dir=run_dir, summary=summary)


@contextmanager
def recipe_observers(recipe: Recipe, plugins: PluginHost) -> Iterator[RecipeObservers]:
    """Build the recipe's observers and let ``plugins.notify`` reach them inside the block."""
    forward = RecipeObservers([plugins.registry.create("observer", ref) for ref in recipe.search.observers])
    if not forward.observers:
        yield forward
        return
    plugins.register(forward, PLUGIN_NAME, "(the recipe's search.observers)")
    try:
        yield forward
    finally:
        plugins.unregister(PLUGIN_NAME)

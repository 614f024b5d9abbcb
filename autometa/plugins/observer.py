"""The observer contract: a component that watches a search, switched on by naming it in the recipe.

Observer *hooks* (:mod:`autometa.plugins.hookspecs`) see every search of every
recipe as soon as their plugin is installed. An :class:`Observer` component is
opt-in instead: a recipe lists it, with options, under ``search.observers``
(``observers: [{mlflow: {experiment: glyphs}}]``), so the recipe says where a run
is reported and a misspelt name or option is an error before anything runs.
"""

from __future__ import annotations

from typing import Any

from autometa.components.component import Component


class Observer(Component):
    """Base of observer plugins, built as ``cls(options)``; override the events you need.

    The methods receive what the observer hooks of the same names receive. The
    search builds the recipe's observers in every process that runs trials (the
    command and each ``--workers`` process) and calls ``search_started`` in each
    before its trials; ``search_finished`` is called once, in the command's process.
    An observer that raises is logged; the search goes on.
    """

    def __init__(self, options):
        self.options = options

    def search_started(self, study: Any, recipe: Any, run_dir: Any) -> None:
        """A search begins in this process (the ``optuna.Study``, the resolved recipe, the run directory)."""

    def trial_started(self, trial: Any, strategy: Any) -> None:
        """A trial begins: the ``optuna.Trial`` and the concrete strategy it trains."""

    def trial_finished(self, trial: Any, state: str, values: Any, reason: str | None, metrics: dict) -> None:
        """A trial ended (``complete``, ``pruned`` or ``failed``); ``metrics`` is its ``metrics.json``."""

    def search_finished(self, study: Any, run_dir: Any, summary: Any) -> None:
        """The search ended; ``summary`` holds the winner(s) and their test scores."""

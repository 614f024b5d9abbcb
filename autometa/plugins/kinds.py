"""The table of component kinds: the one place that says what can be extended and how.

Everything kind-specific is derived from :data:`KINDS`: the plugin host asks each
kind's ``register_*`` hook, ``autometa plugins check`` checks components against
the kind's base class, ``autometa plugins new`` scaffolds a component of a kind
and places it in the generated recipe, and the test helpers build a tiny recipe
around any component. The constructor context of a kind is its base class's
signature (see :func:`constructor_context`); the hook's docstring in
:mod:`autometa.plugins.hookspecs` documents it, and a test keeps the two equal.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from autometa.components.component import ComponentRef
from autometa.data.dataset import Dataset
from autometa.deploy.exporter import Exporter
from autometa.deploy.stages import Distiller, Pruner, Quantizer
from autometa.learning.backbone import Backbone
from autometa.learning.inner_loop import InnerOptimizer
from autometa.learning.learner import MetaLearner
from autometa.learning.regularizer import Regularizer
from autometa.plugins.observer import Observer


@dataclass(frozen=True)
class Kind:
    """One kind of component.

    ``slot`` is where a recipe names one, as a dotted path: ``[]`` marks a list
    (``strategy.regularizers[]``) and ``*`` the component named at that point
    (``strategy.learner.*.inner_optimizer``: an option of whichever learner).
    ``scaffold_test`` names the test template ``autometa plugins new`` renders.
    """

    name: str
    hook: str
    base: type
    slot: str
    scaffold_test: str = "default"

    @property
    def words(self) -> str:
        """The kind as prose: ``inner optimizer``."""
        return self.name.replace("_", " ")


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("dataset", "register_datasets", Dataset, "data.dataset", "dataset"),
        Kind("backbone", "register_backbones", Backbone, "strategy.backbone"),
        Kind("learner", "register_learners", MetaLearner, "strategy.learner"),
        Kind("inner_optimizer", "register_inner_optimizers", InnerOptimizer, "strategy.learner.*.inner_optimizer"),
        Kind("regularizer", "register_regularizers", Regularizer, "strategy.regularizers[]"),
        Kind("pruner", "register_pruners", Pruner, "compression.pruner", "compression"),
        Kind("distiller", "register_distillers", Distiller, "compression.distiller", "compression"),
        Kind("quantizer", "register_quantizers", Quantizer, "compression.quantizer", "compression"),
        Kind("exporter", "register_exporters", Exporter, "export.formats[]", "exporter"),
        Kind("observer", "register_observers", Observer, "search.observers[]"),
    )
}


def constructor_context(kind: Kind) -> list[str]:
    """The keyword arguments a component of ``kind`` is built with after its options, e.g.
    ``["in_channels", "image_size"]`` for a backbone: the base class's constructor signature."""
    parameters = list(inspect.signature(kind.base.__init__).parameters)
    return parameters[2:]  # self, options


def place(recipe: dict[str, Any], kind: Kind, ref: Any) -> None:
    """Put component reference ``ref`` into ``recipe`` (a plain dict) at ``kind``'s slot.

    Missing sections are created; a ``*`` step descends into the component named
    there (a bare name becomes ``{name: {}}``); a ``[]`` step appends to a list.
    """
    *steps, last = kind.slot.split(".")
    parent: dict[str, Any] = {"": recipe}
    key = ""
    for step in steps:
        if step == "*":
            named = ComponentRef.parse(parent[key])
            parent[key] = {named.name: dict(named.options)}
            parent, key = parent[key], named.name
        else:
            parent, key = parent[key], step
            parent.setdefault(key, {})
    node = parent[key]
    if last.endswith("[]"):
        node.setdefault(last[:-2], []).append(ref)
    else:
        node[last] = ref

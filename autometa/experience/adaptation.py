"""Adapting a strategy found in one search space to another: keep what the new space offers, say what it does not.

A transferred strategy is a finished trial's ``params`` (parameter name -> value,
names being dotted paths such as ``learner.maml.inner_lr``). Against the new
recipe's space (:class:`SearchSpace`):

* a value the new space offers (one of its choices, a number within its range
  and on its step, of the right type) is kept;
* a value it does not offer, or a parameter it does not search, is dropped with
  a note and left to the sampler: never clipped to the range;
* the whole strategy is skipped, with a note, when a value that picks a
  component with options of its own (a ``choice`` mapping such as
  ``learner: {choice: {maml: {...}, protonet: {}}}``, in either space) is not
  offered or differs from the component the new recipe fixes, since its other
  values were tuned for that component; and when none of its values carries over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from autometa.recipe.space import node_kind, parameters, stored_choices


@dataclass
class Adapted:
    """A strategy in the new space: the values kept, notes on what was not, and why it was skipped (if it was)."""

    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None


class SearchSpace:
    """A recipe's ``strategy`` section as Optuna sees it: each parameter's distribution, and the component choices."""

    def __init__(self, strategy: dict[str, Any]):
        self.strategy = strategy
        nodes = parameters(strategy)
        self.distributions: dict[str, BaseDistribution] = {name: _distribution(node) for name, node in nodes.items()}
        #: Parameters that pick a component with options of its own (a ``choice`` mapping).
        self.component_choices = {name for name, node in nodes.items() if isinstance(node.get("choice"), dict)}

    def adapt(self, params: dict[str, Any], source: SearchSpace) -> Adapted:
        """``params`` (a trial of a search over ``source``) in this space; see the module docstring."""
        for name in sorted((source.component_choices | self.component_choices) & params.keys()):
            reason = self._component_mismatch(name, params[name])
            if reason:
                return Adapted(skipped=reason)
        kept, notes = {}, []
        for name, value in params.items():
            distribution = self.distributions.get(name)
            reason = "not searched here" if distribution is None else _not_offered(distribution, value)
            if reason:
                notes.append(f"{name}={_shown(value)} {reason}")
            else:
                kept[name] = value
        if not kept:
            return Adapted(notes=notes, skipped="none of its values is offered here")
        unset = [name for name in self.distributions if name not in params and self._asked(name, kept)]
        if unset:
            notes.append(f"{', '.join(unset)} not searched there")
        return Adapted(kept, notes)

    def _component_mismatch(self, name: str, value: Any) -> str | None:
        """Why a component choice cannot carry over (None when it can)."""
        if name in self.distributions:
            reason = _not_offered(self.distributions[name], value)
            return f"its {name}={_shown(value)} {reason}" if reason else None
        fixed = self._fixed_component(name)
        if fixed is None:
            return f"its {name}={_shown(value)} is not searched here"
        if fixed != value:
            return f"its {name}={_shown(value)}, but this recipe fixes {name} to {_shown(fixed)}"
        return None

    def _fixed_component(self, name: str) -> Any:
        """The component the recipe names without searching it at dotted path ``name`` (None if nothing there)."""
        value: Any = self.strategy
        for part in name.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        if isinstance(value, dict) and len(value) == 1 and node_kind(value) is None:
            return next(iter(value))
        return value if isinstance(value, str) else None

    def _asked(self, name: str, chosen: dict[str, Any]) -> bool:
        """Whether a trial with the choices in ``chosen`` asks for ``name`` (its branches are all chosen)."""
        for choice in self.component_choices:
            if name.startswith(choice + "."):
                branch = name[len(choice) + 1:].split(".")[0]
                if chosen.get(choice, self._fixed_component(choice)) != branch:
                    return False
        return True


def _distribution(node: dict[str, Any]) -> BaseDistribution:
    """The Optuna distribution ``Trial.suggest_*`` creates for a search node (see :func:`~autometa.recipe.space.resolve`)."""
    kind = node_kind(node)
    low_high = node[kind]
    if kind == "choice":
        return CategoricalDistribution(stored_choices(list(low_high)))
    if kind == "int":
        low, high = int(low_high[0]), int(low_high[1])
        return IntDistribution(low, high, step=int(node.get("step", 1)), log=bool(node.get("log", False)))
    return FloatDistribution(float(low_high[0]), float(low_high[1]), log=kind == "log_uniform")


def _not_offered(distribution: BaseDistribution, value: Any) -> str | None:
    """Why ``distribution`` does not offer ``value`` (None when it does)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(distribution, CategoricalDistribution):
        if any(type(choice) is type(value) and choice == value for choice in distribution.choices):
            return None
        return f"is not one of {list(distribution.choices)} here"
    if isinstance(distribution, IntDistribution):
        if not number or not isinstance(value, int):
            return "is not an integer"
        if not distribution.low <= value <= distribution.high or (value - distribution.low) % distribution.step:
            step = f" step {distribution.step}" if distribution.step != 1 else ""
            return f"is outside [{distribution.low}, {distribution.high}]{step} here"
        return None
    if not number:
        return "is not a number"
    if not distribution.low <= value <= distribution.high:
        return f"is outside [{distribution.low:g}, {distribution.high:g}] here"
    return None


def _shown(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)

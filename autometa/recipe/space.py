"""Search-space syntax: inline search nodes (choice, int, uniform, log_uniform) inside a recipe.

Any value under a recipe's ``strategy`` may be replaced by a *search node*::

    inner_lr: {log_uniform: [0.01, 1.0]}     # float, sampled on a log scale
    outer_lr: {uniform: [0.0001, 0.01]}      # float
    inner_steps: {int: [1, 5]}               # integer, inclusive (optional step:, log:)
    width: {choice: [32, 64]}                # categorical
    learner:                                 # categorical with conditional parameters:
      choice:                                # the options under a branch are only
        maml: {inner_lr: {log_uniform: [0.01, 1.0]}}   # searched when it is chosen
        protonet: {}

:func:`resolve` turns a space into plain data by asking a :class:`Suggester`
(Optuna's trial, in a search) for each node; parameter names are the dotted paths
of the nodes (``learner``, ``learner.maml.inner_lr``), so conditional parameters
get their own names. :func:`candidates` lists the concrete values a node can take
(choices, or the two bounds of a range) so a space can be validated before any
trial runs, :func:`parameters` lists every parameter a space can ask for, in
every branch, and :func:`covering_values` a few concrete values that together take
every option of every choice (what the export pre-flight builds).
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

from autometa.errors import RecipeError

NODE_KEYS = {"choice", "int", "uniform", "log_uniform"}
_INT_EXTRAS = {"step", "log"}


class Suggester(Protocol):
    """Where concrete values come from (Optuna's ``Trial`` satisfies this protocol)."""

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...
    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int: ...
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...


def node_kind(value: Any) -> str | None:
    """The kind of search node ``value`` is (``"int"``, ``"choice"``, ...), or None."""
    if not isinstance(value, dict) or not value:
        return None
    kinds = NODE_KEYS & value.keys()
    if len(kinds) != 1:
        return None
    (kind,) = kinds
    extras = value.keys() - {kind}
    if extras and not (kind == "int" and extras <= _INT_EXTRAS):
        return None
    return kind


def contains_search(value: Any) -> bool:
    """Whether ``value`` holds a search node anywhere inside."""
    if node_kind(value):
        return True
    if isinstance(value, dict):
        return any(contains_search(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_search(v) for v in value)
    return False


def check_node(value: dict[str, Any], path: str) -> None:
    """Raise a :class:`RecipeError` naming ``path`` if a search node is malformed."""
    kind = node_kind(value)
    arg = value[kind]
    if kind == "choice":
        if isinstance(arg, dict):
            bad = [k for k, v in arg.items() if not isinstance(v, dict) and v is not None]
            if not arg or bad:
                raise RecipeError(
                    f"{path}: 'choice' as a mapping lists options with their settings, "
                    f"e.g. {{choice: {{maml: {{inner_steps: 1}}, protonet: {{}}}}}}"
                )
            return
        if not isinstance(arg, list) or not arg:
            raise RecipeError(f"{path}: 'choice' needs a non-empty list, e.g. {{choice: [32, 64]}}")
        return
    if not isinstance(arg, list) or len(arg) != 2 or not all(_is_number(x) for x in arg):
        raise RecipeError(f"{path}: '{kind}' needs [low, high], e.g. {{{kind}: [1, 5]}}")
    low, high = arg
    if low > high:
        raise RecipeError(f"{path}: search range low {low} is greater than high {high}; swap them")
    if kind == "int" and not all(float(x).is_integer() for x in arg):
        raise RecipeError(f"{path}: 'int' bounds must be integers, got [{low}, {high}]")
    if (kind == "log_uniform" or value.get("log")) and low <= 0:
        raise RecipeError(f"{path}: a log-scale range needs low > 0, got {low}")
    step = value.get("step", 1)
    if kind == "int" and (not isinstance(step, int) or step < 1):
        raise RecipeError(f"{path}: 'step' must be a positive integer, got {step!r}")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def candidates(value: Any, path: str) -> list[Any]:
    """Representative concrete values of ``value``: each choice, or a range's two bounds.

    Values nested inside a chosen branch stay as they are (they are validated by
    whoever owns that branch); a plain value is its own single candidate.
    """
    kind = node_kind(value)
    if kind is None:
        return [value]
    check_node(value, path)
    arg = value[kind]
    if kind == "choice":
        if isinstance(arg, dict):
            return [{name: dict(options or {})} for name, options in arg.items()]
        return list(arg)
    low, high = arg
    if kind == "int":
        return [int(low), int(high)]
    return [float(low), float(high)]


def resolve(value: Any, suggester: Suggester, path: str = "") -> Any:
    """Replace every search node in ``value`` by a concrete value from ``suggester``."""
    kind = node_kind(value)
    if kind is not None:
        check_node(value, path)
        arg = value[kind]
        if kind == "choice" and isinstance(arg, dict):
            name = suggester.suggest_categorical(path, list(arg))
            return {name: resolve(dict(arg[name] or {}), suggester, _join(path, name))}
        if kind == "choice":
            return _suggest_choice(suggester, path, list(arg))
        if kind == "int":
            low, high = int(arg[0]), int(arg[1])
            return suggester.suggest_int(
                path, low, high, step=int(value.get("step", 1)), log=bool(value.get("log", False))
            )
        return suggester.suggest_float(path, float(arg[0]), float(arg[1]), log=kind == "log_uniform")
    if isinstance(value, dict):
        return {k: resolve(v, suggester, _join(path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, suggester, _join(path, str(i))) for i, v in enumerate(value)]
    return value


def parameters(value: Any, path: str = "") -> dict[str, dict[str, Any]]:
    """Every search node in ``value``, in every branch of every choice, by parameter name.

    The names are those :func:`resolve` gives (``learner``, ``learner.maml.inner_lr``),
    so a finished trial's ``params`` can be checked against another space.
    """
    found: dict[str, dict[str, Any]] = {}
    kind = node_kind(value)
    if kind is not None:
        check_node(value, path)
        found[path] = value
        if kind == "choice" and isinstance(value[kind], dict):
            for name, options in value[kind].items():
                found |= parameters(dict(options or {}), _join(path, str(name)))
    elif isinstance(value, dict):
        for key, item in value.items():
            found |= parameters(item, _join(path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found |= parameters(item, _join(path, str(i)))
    return found


def stored_choices(choices: list[Any]) -> list[Any]:
    """A choice list as Optuna stores it: plain values as they are; if any choice is a list or a
    mapping (``augment: {choice: [[], [affine]]}``), every choice as its JSON text."""
    if not any(isinstance(choice, (list, dict)) for choice in choices):
        return list(choices)
    return [json.dumps(choice, sort_keys=True) for choice in choices]


def _suggest_choice(suggester: Suggester, path: str, choices: list[Any]) -> Any:
    """A categorical choice, decoded back from its stored form (:func:`stored_choices`)."""
    stored = stored_choices(choices)
    picked = suggester.suggest_categorical(path, stored)
    return picked if stored == list(choices) else json.loads(picked)


class FixedSuggester:
    """Answers from a dict of parameter values (e.g. a finished trial's ``params``)."""

    def __init__(self, params: dict[str, Any]):
        self.params = params

    def _get(self, name: str) -> Any:
        if name not in self.params:
            raise RecipeError(f"no value for search parameter '{name}'")
        return self.params[name]

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return self._get(name)

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        return int(self._get(name))

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        return float(self._get(name))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def covering_values(space: Any) -> list[Any]:
    """Concrete values of ``space`` that together take every option of every ``choice`` node at least once.

    Not the product of all choices: each value picks, at every choice it meets, the
    option with the most options not yet taken below it (itself included), so about
    as many values as the widest choice suffice, nested choices included. Ranges take
    their low end. Equal values are listed once.
    """
    below: dict[tuple[str, int], set[tuple[str, int]]] = {}
    everything = _options_below(space, "", below)
    taken: set[tuple[str, int]] = set()
    values: list[Any] = []
    while True:
        suggester = _CoveringSuggester(below, taken)
        value = resolve(space, suggester)
        if value not in values:
            values.append(value)
        if not (everything - taken):
            return values


def _options_below(value: Any, path: str, below: dict[tuple[str, int], set[tuple[str, int]]]) -> set[tuple[str, int]]:
    """Every ``(choice path, option index)`` inside ``value``; fills ``below`` with each option's own set,
    naming paths as :func:`resolve` does."""
    kind = node_kind(value)
    if kind == "choice":
        check_node(value, path)
        arg = value[kind]
        found: set[tuple[str, int]] = set()
        for i, option in enumerate(arg):
            mapping = isinstance(arg, dict)  # options with settings, which may hold choices of their own
            branch = _options_below(dict(arg[option] or {}), _join(path, option), below) if mapping else ()
            below[(path, i)] = {(path, i), *branch}
            found |= below[(path, i)]
        return found
    if kind is not None:
        return set()
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found = set()
    for key, item in items:
        found |= _options_below(item, _join(path, str(key)), below)
    return found


class _CoveringSuggester:
    """Picks the option with the most untaken options below it; ranges at their low end."""

    def __init__(self, below: dict[tuple[str, int], set[tuple[str, int]]], taken: set[tuple[str, int]]):
        self.below, self.taken = below, taken

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        best = max(range(len(choices)), key=lambda i: (len(self.below[(name, i)] - self.taken), -i))
        self.taken.add((name, best))
        return choices[best]

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        return low

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        return low

"""The recipe: one YAML file that fully determines a run (with its seed).

Loading a recipe is two passes. First the structure is checked by the pydantic
models below. Then :func:`check_tree` walks every section that names components
(data set, learner, backbone, ...) and validates each component's options against
that plugin's own ``Options`` model, expanding search nodes (see
:mod:`autometa.space`) into their candidate values. Every error becomes one
:class:`~autometa.errors.RecipeError` line: ``file:line: dotted.path: problem``,
with a "did you mean" for misspelt keys and names.

Only the ``strategy`` section may hold search nodes: it is the search space.
:meth:`Recipe.strategy_for` resolves it into a concrete :class:`Strategy`.
"""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, field_validator

from autometa.components import ComponentKind, ComponentRef, PluginOptions, component_type
from autometa.errors import AutometaError, RecipeError
from autometa.space import Suggester, candidates, contains_search, node_kind, resolve


class Section(PluginOptions):
    """A recipe section: unknown keys are errors."""


class EpisodeShape(Section):
    """N-way K-shot Q-query."""

    ways: int = Field(5, ge=2, description="classes per episode (N)")
    shots: int = Field(1, ge=1, description="labelled support images per class (K)")
    queries: int = Field(15, ge=1, description="query images per class (Q)")


class Transforms(Section):
    """Preprocessing and augmentation applied to every image."""

    image_size: int | None = Field(None, ge=8, description="resize to this square size (None: as stored)")
    normalize: Literal["none", "dataset"] = Field(
        "none", description="'dataset': subtract the meta-train mean, divide by its std"
    )
    augment: list[Literal["flip", "crop", "jitter"]] = Field(
        default_factory=list, description="training-time augmentation of meta-train images"
    )


class DataSection(Section):
    dataset: component_type("dataset") = Field(description="data set plugin and its options")
    transforms: Transforms = Field(default_factory=Transforms, description="resize, normalisation, augmentation")
    cache_dir: Path | None = Field(None, description="where rendered/decoded data is cached (default: user cache)")


class EvaluationSection(Section):
    """The fixed, seeded episodes every candidate is scored on."""

    ways: int = Field(5, ge=2, description="classes per evaluation episode (N)")
    shots: int = Field(1, ge=1, description="support images per class (K)")
    queries: int = Field(15, ge=1, description="query images per class (Q)")
    val_episodes: int = Field(100, ge=2, description="validation episodes (the search objective)")
    test_episodes: int = Field(600, ge=2, description="test episodes (final scores)")

    @property
    def shape(self) -> EpisodeShape:
        return EpisodeShape(ways=self.ways, shots=self.shots, queries=self.queries)


class Strategy(Section):
    """One candidate: everything the search may vary. In a recipe, any value may be a search node."""

    learner: component_type("learner") = Field(description="meta-learner plugin and its options")
    backbone: component_type("backbone") = Field("conv4", description="backbone plugin and its options")
    train_episodes: EpisodeShape = Field(default_factory=EpisodeShape, description="training episode shape")
    meta_batch_size: int = Field(4, ge=1, description="tasks per meta-update")
    outer_optimizer: Literal["adam", "adamw", "sgd"] = Field("adam", description="meta (outer) optimizer")
    outer_lr: float = Field(1e-3, gt=0, description="meta (outer) learning rate")
    lr_schedule: Literal["constant", "cosine"] = Field("constant", description="outer learning-rate schedule")
    grad_clip: float | None = Field(None, gt=0, description="clip the meta-gradient norm to this")
    regularizers: list[component_type("regularizer")] = Field(
        default_factory=list, description="meta-regularizer plugins"
    )


class TrainingSection(Section):
    """The per-candidate training budget (not searched)."""

    meta_steps: int = Field(500, ge=1, description="meta-updates per candidate")
    eval_every: int = Field(100, ge=1, description="validation scores reported every this many steps")
    amp: Literal["auto", "bf16", "off"] = Field("auto", description="bf16 autocast: auto = on GPU only")
    checkpoint_every: int = Field(100, ge=1, description="save a resumable checkpoint every this many steps")


class SearchSection(Section):
    """How Optuna searches the strategy space (see docs/search.md)."""

    trials: int = Field(20, ge=1, description="trials to finish (complete, pruned or failed); a rerun resumes up to this")
    timeout_minutes: float | None = Field(None, gt=0, description="stop starting trials after this long (per run)")
    workers: int = Field(1, ge=1, description="local worker processes sharing one journal storage (--workers overrides)")
    sampler: Literal["auto", "tpe", "random", "nsga2"] = Field(
        "auto", description="auto: TPE (seeded) for one objective, NSGA-II for several"
    )
    startup_trials: int = Field(
        5, ge=0, description="random trials before TPE models the space and the median pruner starts pruning"
    )
    pruner: Literal["hyperband", "median", "none"] = Field(
        "hyperband", description="prune across training on the intermediate validation accuracy"
    )
    wilcoxon: bool = Field(True, description="also prune across validation episodes (WilcoxonPruner, paired)")
    wilcoxon_p_threshold: float = Field(
        0.1, gt=0, lt=1, description="p-value under which a trial is judged worse than the best one"
    )
    objectives: list[Literal["accuracy", "params", "flops", "latency"]] = Field(
        default_factory=lambda: ["accuracy"],
        min_length=1,
        description="accuracy first; add params, flops or latency for a multi-objective (Pareto) search",
    )

    @field_validator("objectives")
    @classmethod
    def _accuracy_first(cls, value: list[str]) -> list[str]:
        if value[0] != "accuracy" or len(set(value)) != len(value):
            raise ValueError("list 'accuracy' first and each objective once, e.g. [accuracy, params]")
        return value


class CompressionSection(Section):
    """Prune, distil and quantize the winner (runs after the search)."""

    pruner: component_type("pruner") | None = None
    distiller: component_type("distiller") | None = None
    quantizer: component_type("quantizer") | None = None


class ExportSection(Section):
    formats: list[component_type("exporter")] = Field(default_factory=list)


class Recipe(Section):
    """The whole run."""

    name: str = Field(description="run name: the run directory is <output_dir>/<name>")
    seed: int = Field(0, description="seeds episodes, initialisation and the sampler: same seed, same run")
    output_dir: Path = Field(Path("runs"), description="parent of the run directory")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="auto: CUDA, then MPS, then CPU")
    data: DataSection = Field(description="the data set and its preprocessing")
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection, description="fixed scoring episodes")
    strategy: dict[str, Any] = Field(description="the search space: a Strategy whose values may be search nodes")
    training: TrainingSection = Field(default_factory=TrainingSection, description="per-candidate budget")
    search: SearchSection = Field(default_factory=SearchSection)
    compression: CompressionSection | None = None
    export: ExportSection = Field(default_factory=ExportSection)

    def strategy_for(self, suggester: Suggester) -> Strategy:
        """Resolve the search space into one concrete strategy."""
        return Strategy.model_validate(resolve(self.strategy, suggester))

    def fixed_strategy(self) -> Strategy:
        """The strategy of a recipe without search nodes (``autometa train``)."""
        if contains_search(self.strategy):
            raise RecipeError(
                "strategy: this recipe declares a search space; run 'autometa search' "
                "or train a fixed strategy such as runs/<name>/best/strategy.yaml"
            )
        return Strategy.model_validate(self.strategy)


# --------------------------------------------------------------------------- loading


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a number (YAML 1.2) instead of a string (YAML 1.1)."""


RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_recipe(path: str | Path) -> Recipe:
    """Read, parse and fully validate a recipe file."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found; check the path")
    text = path.read_text(encoding="utf-8")
    return parse_recipe(text, str(path))


def parse_recipe(text: str, filename: str = "<recipe>") -> Recipe:
    """Parse and validate recipe text; errors name ``filename`` and the line."""
    try:
        data = yaml.load(text, Loader=RecipeLoader)
        lines = _line_numbers(yaml.compose(text, Loader=RecipeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        raise RecipeError(f"{filename}: the recipe is empty; start from recipes/quickstart.yaml")
    if not isinstance(data, dict):
        raise RecipeError(f"{filename}:1: a recipe is a mapping of sections (name, data, strategy, ...)")
    try:
        recipe = Recipe.model_validate(data)
        check_tree(Recipe, data, "", allow_search=False, skip={"strategy"})
        check_tree(Strategy, recipe.strategy, "strategy", allow_search=True)
    except ValidationError as exc:
        raise _from_validation_error(exc, Recipe, "", filename, lines) from None
    except _TreeError as exc:
        raise RecipeError(f"{_where(filename, lines, exc.path)}: {exc.path}: {exc.message}") from None
    return recipe


class _TreeError(Exception):
    def __init__(self, path: str, message: str):
        self.path, self.message = path, message


def check_tree(
    model: type[BaseModel], value: Any, path: str, *, allow_search: bool, skip: set[str] = frozenset()
) -> None:
    """Validate ``value`` against ``model`` key by key, descending into components.

    Raises ``_TreeError(path, message)`` for the first problem; with
    ``allow_search`` every search node is expanded into its candidates first.
    """
    if not isinstance(value, dict):
        raise _TreeError(path or "(top)", f"expected a mapping of options, got {value!r}")
    fields = model.model_fields
    for key, item in value.items():
        here = _join(path, str(key))
        if key not in fields:
            raise _TreeError(here, _unknown_key(str(key), list(fields)))
        if key in skip:
            continue
        field = fields[key]
        if not allow_search and node_kind(item):
            raise _TreeError(here, "search nodes are only allowed under 'strategy'")
        for candidate in _candidates(item, here) if allow_search else [item]:
            _check_value(field.annotation, field.metadata, candidate, here, allow_search)
    for name, field in fields.items():
        if field.is_required() and name not in value:
            raise _TreeError(_join(path, name), "required key is missing")


def _candidates(value: Any, path: str) -> list[Any]:
    try:
        return candidates(value, path)
    except RecipeError as exc:
        raise _TreeError(path, str(exc).split(": ", 1)[-1]) from None


def _check_value(annotation: Any, metadata: list, value: Any, path: str, allow_search: bool) -> None:
    kind = _component_kind(annotation, metadata)
    if kind is not None:
        if value is None and _is_optional(annotation):
            return
        _check_component(kind, value, path, allow_search)
        return
    inner = _list_item(annotation)
    if inner is not None and isinstance(value, list):
        for i, item in enumerate(value):
            here = f"{path}.{i}"
            for candidate in _candidates(item, here) if allow_search else [item]:
                _check_value(inner, [], candidate, here, allow_search)
        return
    sub = _model_class(annotation)
    if sub is not None and isinstance(value, dict):
        check_tree(sub, value, path, allow_search=allow_search)
        return
    try:
        TypeAdapter(typing.Annotated[(annotation, *metadata)] if metadata else annotation).validate_python(value)
    except ValidationError as exc:
        raise _TreeError(path, _first_message(exc)) from None


def _check_component(kind: str, value: Any, path: str, allow_search: bool) -> None:
    from autometa.plugins import get_registry

    try:
        ref = ComponentRef.parse(value)
    except ValueError as exc:
        raise _TreeError(path, str(exc)) from None
    try:
        cls = get_registry().get(kind, ref.name).cls
    except AutometaError as exc:
        raise _TreeError(path, str(exc)) from None
    check_tree(cls.Options, ref.options, _join(path, ref.name), allow_search=allow_search)
    if not contains_search(ref.options):
        try:
            cls.Options.model_validate(ref.options)
        except ValidationError as exc:
            raise _TreeError(_join(path, ref.name), _first_message(exc)) from None


def _component_kind(annotation: Any, metadata: list) -> str | None:
    for item in metadata:
        if isinstance(item, ComponentKind):
            return item.kind
    for arg in typing.get_args(annotation) if typing.get_origin(annotation) is not list else ():
        if typing.get_origin(arg) is typing.Annotated:
            found = _component_kind(arg, list(arg.__metadata__))
            if found:
                return found
    if typing.get_origin(annotation) is typing.Annotated:
        return _component_kind(typing.get_args(annotation)[0], list(annotation.__metadata__))
    return None


def _is_optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _list_item(annotation: Any) -> Any | None:
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return item
    return None


def _model_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f" (allowed: {', '.join(known)})"
    return f"unknown key '{key}'{hint}"


def _first_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else err["msg"]


def _from_validation_error(
    exc: ValidationError, model: type[BaseModel], base: str, filename: str, lines: dict[str, int]
) -> RecipeError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
    path = ".".join([base, *loc] if base else loc)
    if err["type"] == "extra_forbidden":
        known = list(_model_at(model, loc[:-1]).model_fields) if _model_at(model, loc[:-1]) else []
        message = _unknown_key(loc[-1], known)
    elif err["type"] == "missing":
        message = "required key is missing"
    else:
        message = err["msg"]
        if "input" in err and not isinstance(err["input"], (dict, list)):
            message += f" (got {err['input']!r})"
    return RecipeError(f"{_where(filename, lines, path)}: {path or '(top)'}: {message}")


def _model_at(model: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    for key in loc:
        field = model.model_fields.get(key)
        sub = _model_class(field.annotation) if field else None
        if sub is None:
            return None
        model = sub
    return model


def _line_numbers(node: yaml.Node | None, path: str = "") -> dict[str, int]:
    """Map each dotted path in a composed YAML document to its 1-based line."""
    lines: dict[str, int] = {}
    if node is None:
        return lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = _join(path, str(key.value))
            lines.update(_line_numbers(value, here))
            lines[here] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            lines.update(_line_numbers(value, _join(path, str(i))))
    return lines


def _where(filename: str, lines: dict[str, int], path: str) -> str:
    """``file:line`` of the deepest known part of ``path``.

    Search-node keys (``choice``) appear in the YAML but not in option paths, so
    lines are looked up with them removed.
    """
    logical: dict[str, int] = {}
    for yaml_path, line in lines.items():
        key = ".".join(p for p in yaml_path.split(".") if p != "choice")
        logical.setdefault(key, line)
    parts = path.split(".") if path else []
    while parts and ".".join(parts) not in logical:
        parts.pop()
    line = logical.get(".".join(parts))
    return f"{filename}:{line}" if line else filename


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def dump_recipe(recipe: Recipe) -> str:
    """The resolved recipe (defaults filled in) as YAML."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)


def recipe_json_schema() -> dict[str, Any]:
    """JSON Schema of a recipe, with ``strategy`` described by :class:`Strategy`."""
    schema = Recipe.model_json_schema()
    strategy = Strategy.model_json_schema(ref_template="#/$defs/{model}")
    schema.setdefault("$defs", {}).update(strategy.pop("$defs", {}))
    schema["$defs"]["Strategy"] = strategy
    description = schema["properties"]["strategy"].get("description", "")
    schema["properties"]["strategy"] = {"$ref": "#/$defs/Strategy", "description": description}
    return schema

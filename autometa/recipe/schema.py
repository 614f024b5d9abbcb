"""The recipe's schema: the sections of one YAML file that fully determines a run (with its seed).

Each section is a pydantic model whose fields carry their defaults and
descriptions (``autometa recipe show`` and ``recipe schema`` print them). Only
the ``strategy`` section may hold search nodes (:mod:`autometa.recipe.space`): it
is the search space, and :meth:`Recipe.strategy_for` resolves it into a concrete
:class:`Strategy`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from autometa.components.component import PluginOptions, component_type
from autometa.errors import RecipeError
from autometa.recipe.space import Suggester, contains_search, covering_values, resolve


class Section(PluginOptions):
    """A recipe section: unknown keys are errors."""


class EpisodeShape(Section):
    """N-way K-shot Q-query, with classes drawn from the whole split or from one group."""

    ways: int = Field(5, ge=2, description="classes per episode (N)")
    shots: int = Field(1, ge=1, description="labelled support images per class (K)")
    queries: int = Field(15, ge=1, description="query images per class (Q)")
    within_group: bool = Field(
        False, description="draw all of an episode's classes from one group (one alphabet, one super-class)"
    )


class Transforms(Section):
    """Preprocessing and augmentation applied to every image."""

    image_size: int | None = Field(None, ge=8, description="resize to this square size (None: as stored)")
    normalize: Literal["none", "dataset"] = Field(
        "none", description="'dataset': subtract the meta-train mean, divide by its std"
    )
    augment: list[component_type("augmentation")] = Field(
        default_factory=list,
        description="augmentation plugins applied to meta-train images in every candidate (deprecated: "
        "prefer strategy.augment, which the search can vary)",
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
    within_group: bool = Field(
        False,
        description="draw each episode's classes from one group (one alphabet, one super-class), as Lake et "
        "al.'s one-shot benchmark does; groups with fewer classes than 'ways' are never drawn",
    )
    val_episodes: int = Field(100, ge=2, description="validation episodes (the search objective)")
    test_episodes: int = Field(600, ge=2, description="test episodes (final scores)")

    @property
    def shape(self) -> EpisodeShape:
        return EpisodeShape(ways=self.ways, shots=self.shots, queries=self.queries, within_group=self.within_group)


class PretrainSection(Section):
    """Whole-class pretraining of the backbone before meta-training (Chen et al. 2019, Tian et al. 2020)."""

    steps: int = Field(
        0, ge=0, description="the first this-many of training.meta_steps are whole-class cross-entropy steps (0: none)"
    )
    batch_size: int = Field(128, ge=2, description="images per pretraining step")
    optimizer: Literal["adam", "adamw", "sgd"] = Field("sgd", description="sgd uses Nesterov momentum 0.9")
    lr: float = Field(0.1, gt=0, description="pretraining learning rate")
    weight_decay: float = Field(5e-4, ge=0, description="L2 weight decay of the backbone and classifier")
    lr_schedule: Literal["constant", "cosine"] = Field("cosine", description="learning-rate schedule over the steps")
    classifier: Literal["linear", "cosine"] = Field(
        "cosine", description="'linear' (Baseline, RFS) or 'cosine' with a learned scale (Baseline++)"
    )
    rotation_weight: float = Field(
        0.0, ge=0, description="weight of the rotation-prediction loss (Gidaris et al. 2019; 0: off; 4x the images)"
    )


class Strategy(Section):
    """One candidate: everything the search may vary. In a recipe, any value may be a search node."""

    learner: component_type("learner") = Field(description="meta-learner plugin and its options")
    backbone: component_type("backbone") = Field("conv4", description="backbone plugin and its options")
    image_size: int | None = Field(
        None, ge=8, description="input size of this candidate (None: the data's); the data is decoded once, larger"
    )
    augment: list[component_type("augmentation")] = Field(
        default_factory=list, description="augmentation plugins applied in turn to meta-train images"
    )
    pretrain: PretrainSection = Field(
        default_factory=PretrainSection, description="whole-class pretraining before meta-training"
    )
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

    meta_steps: int = Field(
        500, ge=1, description="steps per candidate: strategy.pretrain.steps of pretraining, then meta-updates"
    )
    eval_every: int = Field(100, ge=1, description="validation scores reported every this many steps")
    amp: Literal["auto", "bf16", "off"] = Field("auto", description="bf16 autocast: auto = on GPU only")
    checkpoint_every: int = Field(100, ge=1, description="save a resumable checkpoint every this many steps")


class SearchSection(Section):
    """How Optuna searches the strategy space (see docs/search.md)."""

    trials: int = Field(20, ge=1, description="trials to finish (complete, pruned or failed); a rerun resumes up to this")
    timeout_minutes: float | None = Field(None, gt=0, description="search budget per run: no trial starts after it, a running trial stops")
    workers: int = Field(1, ge=1, description="local worker processes sharing the run's storage (--workers overrides)")
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
    heartbeat_seconds: int = Field(
        10, ge=1, description="database storage: a running trial records a heartbeat this often"
    )
    grace_seconds: int = Field(
        60, ge=2, description="a trial without a heartbeat for this long is failed and retried by another worker"
    )
    warm_start: Literal["auto"] | list[str] | None = Field(
        None,
        description="start from earlier searches: 'auto' (the nearest recorded ones by data meta-features and "
        "evaluation shape) or a list of run directories / recorded search names; none: a cold start",
    )
    warm_start_trials: int = Field(
        3, ge=1, description="transferred strategies queued first (each re-trained and scored on this study's episodes)"
    )
    record_experience: bool = Field(
        True, description="record this search in the experience store when trials finish (for later warm starts)"
    )
    objectives: list[Literal["accuracy", "params", "flops", "latency"]] = Field(
        default_factory=lambda: ["accuracy"],
        min_length=1,
        description="accuracy first; add params, flops or latency for a multi-objective (Pareto) search",
    )
    observers: list[component_type("observer")] = Field(
        default_factory=list, description="observer plugins that report the search elsewhere, e.g. [mlflow]"
    )

    @field_validator("warm_start")
    @classmethod
    def _names_searches(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and (not value or not all(name.strip() for name in value)):
            raise ValueError("list run directories or recorded search names, e.g. [runs/omniglot], or write auto")
        return value

    @model_validator(mode="after")
    def _grace_after_heartbeat(self) -> SearchSection:
        if self.grace_seconds <= self.heartbeat_seconds:
            raise ValueError("grace_seconds must exceed heartbeat_seconds (a live trial would be failed)")
        return self

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
    """What ships after the search: which trained models, in which file formats."""

    formats: list[component_type("exporter")] = Field(default_factory=list)
    refit: bool = Field(
        False, description="retrain the winning strategy on meta-train + meta-val, and ship that model"
    )
    ensemble: int = Field(
        1, ge=1, le=10,
        description="ship the top k complete trials (by validation accuracy) as one predictor averaging their "
        "class probabilities; 1: the winner alone",
    )

    @model_validator(mode="after")
    def _one_model_to_refit(self) -> ExportSection:
        if self.refit and self.ensemble > 1:
            raise ValueError("refit retrains the winner alone: set ensemble: 1, or refit: false to ship an ensemble")
        return self


#: A run name is one folder under ``output_dir``: it can neither climb out of it nor be empty.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class Recipe(Section):
    """The whole run."""

    name: str = Field(
        description="run name: the run directory is <output_dir>/<name> (letters, digits, '.', '_', '-')"
    )
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

    @model_validator(mode="after")
    def _ensemble_uncompressed(self) -> Recipe:
        if self.export.ensemble > 1 and self.compression is not None:
            raise ValueError(
                "export.ensemble: an ensemble ships uncompressed; remove the compression section or set ensemble: 1"
            )
        return self

    @field_validator("name")
    @classmethod
    def _one_folder(cls, value: str) -> str:
        if not RUN_NAME.fullmatch(value):
            raise ValueError(
                "a run name is one folder name: letters, digits, '.', '_' and '-', "
                "starting with a letter or digit, at most 100 characters"
            )
        return value

    def strategy_for(self, suggester: Suggester) -> Strategy:
        """Resolve the search space into one concrete strategy."""
        return Strategy.model_validate(resolve(self.strategy, suggester))

    def covering_strategies(self) -> list[Strategy]:
        """A few strategies that together take every option of every choice in the space (not the product)."""
        return [Strategy.model_validate(value) for value in covering_values(self.strategy)]

    def fixed_strategy(self) -> Strategy:
        """The strategy of a recipe without search nodes (``autometa train``)."""
        if contains_search(self.strategy):
            raise RecipeError(
                "strategy: this recipe declares a search space; run 'autometa search' "
                "or train a fixed strategy such as runs/<name>/best/strategy.yaml"
            )
        return Strategy.model_validate(self.strategy)

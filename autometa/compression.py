"""Compression: the prune -> distil -> quantize pipeline over plugin stages.

Every stage works on the deployable predictor (see :mod:`autometa.deploy`), never
on the meta-learner, so the same stages serve metric and gradient-based learners.
A stage gets a :class:`CompressionContext` (the frozen teacher, fresh meta-train
episodes, fixed validation episodes for its own checks) and returns a
:class:`StageOutput`. After each stage the pipeline scores the predictor on the
fixed meta-test episodes and measures its size, FLOPs and CPU latency, so the
model card shows exactly what every stage cost.

:func:`compress_run` runs the whole pipeline on the best trial of a search and
exports, verifies and documents the result in ``runs/<name>/artifacts/``.
"""

from __future__ import annotations

import copy
import hashlib
import platform
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from autometa.components import Component
from autometa.data import Preprocessing
from autometa.deploy import (
    Accuracy,
    ModelCard,
    PredictorInputs,
    StageCard,
    export_and_verify,
    measure_latencies,
    predictor_inputs,
    preprocessing_dict,
    stage_card,
)
from autometa.episodes import Episode
from autometa.errors import AutometaError
from autometa.recipe import CompressionSection, Recipe

#: Pipeline order: each ``compression`` key of the recipe and the method its plugin runs.
STAGES: dict[str, str] = {"pruner": "prune", "distiller": "distill", "quantizer": "quantize"}


@dataclass
class CompressionContext:
    """What a stage may use besides the predictor it transforms."""

    teacher: nn.Module
    sample_episode: Callable[[], Episode]
    val_episodes: Sequence[Episode]
    preprocessing: Preprocessing
    registry: Any = None

    @property
    def example(self) -> PredictorInputs:
        """One validation episode as predictor inputs (for tracing and dependency graphs)."""
        return predictor_inputs(self.val_episodes[0])


@dataclass
class StageOutput:
    """A stage's result; ``kept=False`` means the stage was undone (e.g. failed its accuracy check)."""

    predictor: nn.Module
    notes: str = ""
    kept: bool = True


class Pruner(Component):
    """Base of pruner plugins: returns a pruned copy of the predictor."""

    kind: ClassVar[str] = "pruner"

    def __init__(self, options):
        self.options = options

    @abstractmethod
    def prune(self, predictor: nn.Module, context: CompressionContext) -> StageOutput:
        """Prune a copy of ``predictor`` (never the argument itself)."""


class Distiller(Component):
    """Base of distiller plugins: trains a student predictor to imitate ``context.teacher``."""

    kind: ClassVar[str] = "distiller"

    def __init__(self, options):
        self.options = options

    @abstractmethod
    def distill(self, student: nn.Module, context: CompressionContext) -> StageOutput:
        """Train a copy of ``student`` (or a new, smaller one) on episodes."""


class Quantizer(Component):
    """Base of quantizer plugins: post-training quantization of the predictor."""

    kind: ClassVar[str] = "quantizer"

    def __init__(self, options):
        self.options = options

    @abstractmethod
    def quantize(self, predictor: nn.Module, context: CompressionContext) -> StageOutput:
        """A quantized predictor, or ``kept=False`` with the input when accuracy suffers too much."""


# ------------------------------------------------------------ shared by stages


def episode_accuracy(predictor: nn.Module, episodes: Sequence[Episode]) -> float:
    """Mean query accuracy (fraction) of ``predictor`` on ``episodes``."""
    from autometa.evaluation import evaluate_predictor

    return evaluate_predictor(predictor, episodes).mean


def fit_on_episodes(
    model: nn.Module,
    context: CompressionContext,
    loss: Callable[[Episode], torch.Tensor],
    *,
    steps: int,
    lr: float,
    extra_parameters: Sequence[nn.Parameter] = (),
) -> None:
    """Adam on all of ``model``'s parameters (and ``extra_parameters``) over ``steps`` fresh
    meta-train episodes of ``loss(episode)``.

    Batch-norm statistics are left as meta-training set them (the model stays in
    eval mode), so short fine-tuning cannot drift them on a handful of episodes.
    """
    parameters = [p.requires_grad_(True) for p in model.parameters()] + list(extra_parameters)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    model.eval()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss(context.sample_episode()).backward()
        optimizer.step()


def query_cross_entropy(predictor: nn.Module, episode: Episode) -> torch.Tensor:
    """Cross-entropy of ``predictor``'s query logits on ``episode``."""
    return F.cross_entropy(predictor(*predictor_inputs(episode)), episode.query_y.long())


def feature_size(backbone: nn.Module, images: torch.Tensor) -> int:
    """The backbone's output width, measured (pruning leaves ``out_features`` stale)."""
    with torch.no_grad():
        return backbone(images[:1]).shape[-1]


def head_needs_feature_size(predictor: nn.Module, features: int) -> bool:
    """Whether tensors outside ``predictor.backbone`` have a dimension of size ``features``.

    Such a head (e.g. a meta-learned linear layer, or per-feature inner step
    sizes kept as buffers) breaks if the feature size changes; a prototype head or
    a scalar temperature does not.
    """
    inside = {id(t) for t in [*predictor.backbone.parameters(), *predictor.backbone.buffers()]}
    outside = [t for t in [*predictor.parameters(), *predictor.buffers()] if id(t) not in inside]
    return any(features in t.shape for t in outside)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode with gradients off (the teacher)."""
    teacher = copy.deepcopy(module).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


# -------------------------------------------------------------------- pipeline


@dataclass
class CompressionResult:
    """The final predictor and one model-card row per stage (``original`` first)."""

    predictor: nn.Module
    stages: list[StageCard]


def compress(
    predictor: nn.Module,
    section: CompressionSection | None,
    context: CompressionContext,
    test_episodes: Sequence[Episode],
    *,
    latency_runs: int = 50,
) -> CompressionResult:
    """Run the section's stages in order (prune, distil, quantize) and score each result.

    A stage that is not kept (``kept=False``) is recorded and its input passed on.
    Latencies of all stages are measured side by side (calls in turn) on the first
    test episode, so their ratios hold on a busy machine.
    """
    from autometa.evaluation import evaluate_predictor
    from autometa.plugins import get_registry

    registry = context.registry or get_registry()
    example = predictor_inputs(test_episodes[0])
    current = predictor.eval()
    # (stage, plugin, predictor, output) per stage; latencies are measured together at the end.
    rows: list[tuple[str, str, nn.Module, StageOutput]] = [("original", "-", current, StageOutput(current))]
    for stage, method in STAGES.items():
        ref = getattr(section, stage, None) if section is not None else None
        if ref is None:
            continue
        output: StageOutput = getattr(registry.create(stage, ref), method)(current, context)
        rows.append((stage, ref.name, output.predictor.eval(), output))
        if output.kept:
            current = output.predictor.eval()
    latencies = measure_latencies([model for _, _, model, _ in rows], example, runs=latency_runs)
    cards = [
        stage_card(
            stage, plugin, model, Accuracy.from_eval(evaluate_predictor(model, test_episodes)), example, latency,
            kept=output.kept, notes=output.notes,
        )
        for (stage, plugin, model, output), latency in zip(rows, latencies)
    ]
    return CompressionResult(current, cards)


def machine_description() -> str:
    """'x86_64 CPU, 2 threads (torch 2.x)' — where latencies were measured."""
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads (torch {torch.__version__.split('+')[0]})"


#: Written last into the artifacts folder: the SHA-256 of the checkpoint they were made from.
SOURCE_STAMP = "source-checkpoint.sha256"


def compress_run(
    run_dir: Path, *, recipe: Recipe | None = None, latency_runs: int = 50, skip_if_current: bool = False
) -> Path:
    """Compress, export and document the best trial of ``run_dir``; returns ``run_dir/artifacts``.

    Reads ``best/checkpoint.pt``; the recipe (default: the run's resolved
    ``recipe.yaml``) gives the data, the evaluation episodes, the ``compression``
    stages and the ``export.formats``. Writes each exported file and
    ``model_card.json`` / ``model_card.md``. With ``skip_if_current`` (a resumed
    search) nothing is redone when the artifacts were made from this very checkpoint.
    """
    from autometa.data import load_data
    from autometa.episodes import EpisodeSampler
    from autometa.evaluation import split_episodes
    from autometa.plugins import get_registry
    from autometa.recipe import load_recipe
    from autometa.trainer import load_checkpoint

    run_dir = Path(run_dir)
    best = run_dir / "best" / "checkpoint.pt"
    if not best.is_file():
        raise AutometaError(f"{best}: no best trial to compress; run 'autometa search' on the recipe first")
    artifacts = run_dir / "artifacts"
    source = artifacts / SOURCE_STAMP
    digest = hashlib.sha256(best.read_bytes()).hexdigest()
    if skip_if_current and source.is_file() and source.read_text() == digest:
        return artifacts
    recipe = recipe or load_recipe(run_dir / "recipe.yaml")
    checkpoint = load_checkpoint(best)
    data = load_data(recipe.data)
    predictor = checkpoint.learner.deployable_predictor()
    teacher = frozen_copy(predictor)
    sampler = EpisodeSampler(
        data.train, checkpoint.strategy.train_episodes, preprocessing=data.preprocessing, seed=recipe.seed
    )
    registry = get_registry()
    context = CompressionContext(
        teacher=teacher,
        sample_episode=lambda: sampler.sample(1).episode(0),
        val_episodes=split_episodes(recipe, data, "val"),
        preprocessing=data.preprocessing,
        registry=registry,
    )
    test_episodes = split_episodes(recipe, data, "test")
    result = compress(predictor, recipe.compression, context, test_episodes, latency_runs=latency_runs)
    reports = [
        export_and_verify(
            result.predictor,
            registry.create("exporter", ref),
            artifacts / f"predictor{registry.get('exporter', ref.name).cls.suffix}",
            list(test_episodes[:3]),
        )
        for ref in recipe.export.formats
    ]
    ModelCard(
        name=recipe.name,
        strategy=checkpoint.strategy.model_dump(mode="json"),
        dataset=recipe.data.dataset.to_data(),
        episode_shape=recipe.evaluation.shape.model_dump(),
        preprocessing=preprocessing_dict(data.preprocessing),
        stages=result.stages,
        artifacts=reports,
        machine=machine_description(),
    ).write(artifacts)
    source.write_text(digest)
    return artifacts

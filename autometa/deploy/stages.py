"""The compression-stage contracts (pruner, distiller, quantizer) and the helpers stages share.

Every stage works on the deployable predictor, never on the meta-learner, so the
same stages serve metric and gradient-based learners. A stage gets a
:class:`CompressionContext` (the frozen teacher, fresh meta-train episodes, fixed
validation episodes for its own checks, the plugin registry) and returns a
:class:`StageOutput`; :mod:`autometa.deploy.pipeline` runs them in order.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from autometa.components.component import Component
from autometa.components.registry import Registry
from autometa.data.dataset import Preprocessing
from autometa.data.episodes import Episode
from autometa.deploy.measure import PredictorInputs
from autometa.learning.evaluation import evaluate_predictor

#: Pipeline order: each ``compression`` key of the recipe and the method its plugin runs.
STAGES: dict[str, str] = {"pruner": "prune", "distiller": "distill", "quantizer": "quantize"}


@dataclass
class CompressionContext:
    """What a stage may use besides the predictor it transforms."""

    teacher: nn.Module
    sample_episode: Callable[[], Episode]
    val_episodes: Sequence[Episode]
    preprocessing: Preprocessing
    registry: Registry

    @property
    def example(self) -> PredictorInputs:
        """One validation episode as predictor inputs (for tracing and dependency graphs)."""
        return self.val_episodes[0].predictor_inputs()


@dataclass
class StageOutput:
    """A stage's result; ``kept=False`` means the stage was undone (e.g. failed its accuracy check)."""

    predictor: nn.Module
    notes: str = ""
    kept: bool = True


class CompressionStage(Component):
    """What every stage shares: built as ``cls(options)``; ``check`` refuses up front what it cannot compress."""

    def __init__(self, options):
        self.options = options

    def check(self, predictor: nn.Module) -> None:
        """Raise a one-line :class:`~autometa.errors.RecipeError` (naming the fix) if this stage cannot
        compress ``predictor`` correctly; default: it can. Seconds at most: the search's pre-flight
        calls it on every learner its space can choose, before any training."""


class Pruner(CompressionStage):
    """Base of pruner plugins: returns a pruned copy of the predictor."""

    @abstractmethod
    def prune(self, predictor: nn.Module, context: CompressionContext) -> StageOutput:
        """Prune a copy of ``predictor`` (never the argument itself)."""


class Distiller(CompressionStage):
    """Base of distiller plugins: trains a student predictor to imitate ``context.teacher``."""

    @abstractmethod
    def distill(self, student: nn.Module, context: CompressionContext) -> StageOutput:
        """Train a copy of ``student`` (or a new, smaller one) on episodes."""


class Quantizer(CompressionStage):
    """Base of quantizer plugins: post-training quantization of the predictor."""

    @abstractmethod
    def quantize(self, predictor: nn.Module, context: CompressionContext) -> StageOutput:
        """A quantized predictor, or ``kept=False`` with the input when accuracy suffers too much."""


# ------------------------------------------------------------ shared by stages


def episode_accuracy(predictor: nn.Module, episodes: Sequence[Episode]) -> float:
    """Mean query accuracy (fraction) of ``predictor`` on ``episodes``."""
    return evaluate_predictor(predictor, episodes).mean


def fit_on_episodes(
    model: nn.Module,
    context: CompressionContext,
    loss: Callable[[Episode], torch.Tensor],
    *,
    steps: int,
    lr: float,
    extra_parameters: Sequence[nn.Parameter] = (),
    after_step: Callable[[], None] = lambda: None,
) -> None:
    """Adam on all of ``model``'s parameters (and ``extra_parameters``) over ``steps`` fresh
    meta-train episodes of ``loss(episode)``; ``after_step()`` after each update (e.g. to re-apply
    pruning masks).

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
        after_step()


def prune_in_steps(
    predictor: nn.Module,
    context: CompressionContext,
    prune_step: Callable[[int], None],
    *,
    iterations: int,
    finetune_steps: int,
    lr: float,
    after_step: Callable[[], None] = lambda: None,
) -> None:
    """The prune-then-fine-tune loop pruners share: ``prune_step(i)`` for ``i`` in ``1..iterations``,
    each followed by ``finetune_steps`` meta-train episodes of query cross-entropy (Adam at ``lr``,
    ``after_step()`` after each update)."""
    for step in range(1, iterations + 1):
        prune_step(step)
        predictor.zero_grad(set_to_none=True)
        if finetune_steps:
            fit_on_episodes(
                predictor, context, lambda episode: query_cross_entropy(predictor, episode),
                steps=finetune_steps, lr=lr, after_step=after_step,
            )


def query_cross_entropy(predictor: nn.Module, episode: Episode) -> torch.Tensor:
    """Cross-entropy of ``predictor``'s query logits on ``episode``."""
    return F.cross_entropy(predictor(*episode.predictor_inputs()), episode.query_y.long())


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

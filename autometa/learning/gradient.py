"""Gradient-based meta-learners (MAML, ANIL, Meta-SGD, Reptile, ...): the shared base class.

:class:`GradientLearner` puts a linear head over the backbone, adapts it (and the
body, unless the learner is ANIL-like) with :func:`~autometa.learning.inner_loop.inner_loop`
on each task's support set, and backpropagates the query loss through the
adaptation. Optional MAML++ per-step batch norm (:class:`PerStepBatchNorm`),
``torch.compile`` of the per-task loss and ``vmap`` over tasks live here too.

**Head and number of ways.** With ``head_init: zero`` (the default) every task's
head starts at zero, so a learner trained 5-way adapts to 20-way episodes, and
the learned head init cannot memorise the random label order of training tasks
(the "zeroing trick" of Kao et al., ICLR 2022; Ye & Chao's unicorn-MAML, ICLR 2022,
tie the head rows for the same reason: with a softmax, rows tied to one vector are
equivalent to zero). ``head_init: learned`` is classic MAML (Finn et al. 2017): a
meta-learned ``[ways, D]`` init, usable only on episodes with the training ways.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn
from torch.func import functional_call

from autometa.components.component import PluginOptions, component_type
from autometa.components.registry import Registry
from autometa.data.episodes import Episode, TaskBatch
from autometa.errors import RecipeError
from autometa.learning.adaptation_predictor import AdaptationPredictor
from autometa.learning.inner_loop import Params, inner_loop
from autometa.learning.learner import MetaLearner, StepOutput
from autometa.learning.regularizer import Regularizer

log = logging.getLogger(__name__)


class GradientLearnerOptions(PluginOptions):
    """Options every gradient-based learner shares (all searchable)."""

    inner_steps: int = Field(1, ge=1, le=100, description="gradient steps on the support set per task")
    inner_lr: float = Field(0.4, gt=0, description="inner-loop learning rate (initial rate for learned rules)")
    inner_optimizer: component_type("inner_optimizer") = Field(
        "sgd", description="inner update rule plugin (sgd, meta_sgd, ...); its parameters are meta-learned"
    )
    head_init: Literal["zero", "learned"] = Field(
        "zero",
        description="'zero': each task's head starts at zero (any ways at test time); "
        "'learned': classic meta-learned init (test ways must equal training ways)",
    )
    per_step_bn: bool = Field(
        False, description="MAML++ per-step batch norm: batch-norm weights and biases per inner step"
    )
    compile: bool = Field(
        False, description="torch.compile the per-task meta-loss (faster after a warm-up; eager if it fails)"
    )
    batched: bool = Field(
        False, description="vmap the tasks of a meta-batch in one call (for GPUs; slower than the loop on CPU)"
    )


class GradientLearner(MetaLearner):
    """Base of gradient-based learners: adapt a linear head (and the body) on the support set.

    The default ``meta_step`` backpropagates the query loss through the
    adaptation (MAML and its variants); Reptile overrides it. Subclasses set
    ``adapts_body`` (False: ANIL, features computed once per task) and say when
    to use first-order meta-gradients with :meth:`first_order`.
    """

    adapts_body: ClassVar[bool] = True
    supports_per_step_bn: ClassVar[bool] = True

    def __init__(
        self, options, backbone: nn.Module, ways: int, registry: Registry, regularizers: Sequence[Regularizer] = ()
    ):
        if options.per_step_bn and not self.supports_per_step_bn:
            raise RecipeError(f"learner {self.name}: per_step_bn is not supported by this learner; set per_step_bn: false")
        if options.batched and (options.per_step_bn or options.compile):
            raise RecipeError(
                f"learner {self.name}: batched cannot be combined with per_step_bn or compile; set batched: false"
            )
        use_batch_statistics(backbone)
        super().__init__(options, backbone, ways, registry, regularizers)
        self.meta_only: set[str] = set().union(*(r.meta_only_parameters(self) for r in self.regularizers))
        self.step_norms = PerStepBatchNorm(backbone, options.inner_steps + 1) if options.per_step_bn else None
        self.inner_optimizer = registry.create(
            "inner_optimizer", options.inner_optimizer,
            params=self._optimizer_templates(backbone.out_features), steps=options.inner_steps, lr=options.inner_lr,
        )
        self.training_progress = 0.0
        self._warned_vmap = False

    def make_head(self, features: int) -> nn.Module | None:
        """Classic MAML's meta-learned ``[ways, D]`` head init, or None: each task's head starts at zero."""
        return nn.Linear(features, self.ways) if self.options.head_init == "learned" else None

    # ------------------------------------------------------------------ parameters

    def _adapted_body(self) -> Params:
        """The backbone parameters the inner loop adapts, named ``backbone.<name>``.

        Not adapted: per-step batch-norm parameters and the regularizers'
        ``meta_only_parameters``; the backbone module's own values are used for them.
        """
        if not self.adapts_body:
            return {}
        per_step = self.step_norms.parameter_names if self.step_norms is not None else set()
        return {
            f"backbone.{n}": p for n, p in self.backbone.named_parameters()
            if n not in per_step and f"backbone.{n}" not in self.meta_only
        }

    def _optimizer_templates(self, features: int) -> Params:
        templates = {name: p.detach() for name, p in self._adapted_body().items()}
        templates["head.weight"] = torch.zeros(1, features)
        templates["head.bias"] = torch.zeros(1)
        return templates

    def initial_params(self, ways: int) -> Params:
        """Each task's starting point: the adapted body parameters and the head init for ``ways``."""
        params = self._adapted_body()
        if self.head is not None:
            if ways != self.ways:
                raise RecipeError(
                    f"learner {self.name} (head_init: learned) was meta-trained {self.ways}-way and cannot "
                    f"adapt to a {ways}-way episode; set head_init: zero or use the same ways for training and evaluation"
                )
            params["head.weight"], params["head.bias"] = self.head.weight, self.head.bias
        else:
            reference = next(self.backbone.parameters())
            params["head.weight"] = reference.new_zeros(ways, self.backbone.out_features)
            params["head.bias"] = reference.new_zeros(ways)
        return params

    def step_buffers(self, step: int) -> Params:
        """Batch-norm tensors for inner step ``step`` (the last set is used for the query pass)."""
        if self.step_norms is not None:
            return self.step_norms.tensors(step)
        return dict(self.backbone.named_buffers())

    def features(self, params: Params, buffers: Params, images: Tensor) -> Tensor:
        """Backbone features with the body parameters in ``params`` (others: the module's own)."""
        body = {name[len("backbone."):]: t for name, t in params.items() if name.startswith("backbone.")}
        return functional_call(self.backbone, {**body, **buffers}, (images,))

    # ------------------------------------------------------------------ adaptation

    def first_order(self) -> bool:
        """Use first-order meta-gradients at this point of training (default: never)."""
        return False

    def set_training_progress(self, fraction: float) -> None:
        self.training_progress = fraction

    def adapt(
        self, support_x: Tensor, support_y: Tensor, ways: int, *, first_order: bool, detach: bool = False
    ) -> tuple[Params, Callable[[Tensor], Tensor]]:
        """Adapt to a support set: the adapted parameters and ``query_logits(query_x)``.

        ``detach`` starts from detached meta-parameters (prediction, Reptile).
        """
        params = self.initial_params(ways)
        if detach:
            params = {name: p.detach() for name, p in params.items()}
        steps = self.options.inner_steps
        if self.adapts_body:
            def support_loss(current: Params, buffers: Params, step: int) -> Tensor:
                return F.cross_entropy(self._logits(current, buffers, support_x), support_y)

            adapted = inner_loop(
                support_loss, params, self.inner_optimizer, steps,
                buffers=self.step_buffers, first_order=first_order, regularizers=self.regularizers,
            )
            return adapted, lambda query_x: self._logits(adapted, self.step_buffers(steps), query_x)

        support = self.features(params, self.step_buffers(0), support_x)
        if detach:
            support = support.detach()

        def head_loss(current: Params, buffers: Params, step: int) -> Tensor:
            return F.cross_entropy(self.head_logits(current, support), support_y)

        adapted = inner_loop(
            head_loss, params, self.inner_optimizer, steps, first_order=first_order, regularizers=self.regularizers
        )
        return adapted, lambda query_x: self.head_logits(adapted, self.features(params, self.step_buffers(0), query_x))

    def head_logits(self, params: Params, features: Tensor) -> Tensor:
        """The linear head with the weights in ``params``.

        A learned head runs through the ``head`` module, so a regularizer that
        changed that module (MR-MAML's stochastic head) takes effect in every task.
        """
        if self.head is None:
            return F.linear(features, params["head.weight"], params["head.bias"])
        return functional_call(self.head, {"weight": params["head.weight"], "bias": params["head.bias"]}, (features,))

    def _logits(self, params: Params, buffers: Params, images: Tensor) -> Tensor:
        return self.head_logits(params, self.features(params, buffers, images))

    def task_loss(
        self, support_x: Tensor, support_y: Tensor, query_x: Tensor, query_y: Tensor, ways: int, first_order: bool
    ) -> tuple[Tensor, Tensor]:
        """Query loss after adapting to the support set, and query accuracy (detached)."""
        _, query_logits = self.adapt(support_x, support_y, ways, first_order=first_order)
        logits = query_logits(query_x)
        return F.cross_entropy(logits, query_y), (logits.argmax(1) == query_y).float().mean().detach()

    # ------------------------------------------------------------------ contract

    def meta_step(self, batch: TaskBatch) -> StepOutput:
        first_order = self.first_order()
        if self.options.batched and self._vmap_is_exact(first_order):
            losses, accuracies = self._batched_task_losses(batch, first_order)
            losses.mean().backward()
            losses = losses.detach()
        else:
            task_loss = _compiled_task_loss(first_order) if self.options.compile else _eager_task_loss
            per_task = []
            for i in range(len(batch)):
                loss, accuracy = task_loss(
                    self, batch.support_x[i], batch.support_y[i], batch.query_x[i], batch.query_y[i], batch.ways,
                    first_order,
                )
                (loss / len(batch)).backward()  # one task's graph at a time: memory stays flat in the batch size
                per_task.append((loss.detach(), accuracy))
            losses, accuracies = (torch.stack(column) for column in zip(*per_task))
        return self.finish_meta_step(losses, accuracies)

    def finish_meta_step(self, losses: Tensor, accuracies: Tensor) -> StepOutput:
        """Backpropagate the regularizers' outer penalty and report the step, once the
        per-task query losses (detached ``[B]``) have put their meta-gradient in ``.grad``."""
        penalty = self.outer_penalty()
        if isinstance(penalty, Tensor) and penalty.requires_grad:
            penalty.backward()
        mean_loss = losses.mean() + (penalty.detach() if isinstance(penalty, Tensor) else penalty)
        return StepOutput(loss=float(mean_loss), accuracy=float(accuracies.mean()))

    def _vmap_is_exact(self, first_order: bool) -> bool:
        """False where ``vmap`` gets the meta-gradient wrong: second order through batch norm.

        Measured on torch 2.14: differentiating an inner step through batch norm
        twice under ``torch.func.vmap`` gives meta-gradients off by up to 80%
        (first order, ANIL, and group norm are exact), so that case runs the loop.
        """
        exact = first_order or not self.adapts_body or not any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.backbone.modules()
        )
        if not exact and not self._warned_vmap:
            log.warning("batched: second-order meta-gradients through batch norm are wrong under vmap; using the loop")
            self._warned_vmap = True
        return exact

    def _batched_task_losses(self, batch: TaskBatch, first_order: bool) -> tuple[Tensor, Tensor]:
        """Every task's query loss and accuracy from one ``torch.func.vmap`` call.

        Batch norm normalises each task with its own batch statistics (see
        :func:`use_batch_statistics`), as the loop does, so losses and
        meta-gradients are the loop's.
        """

        def one_task(support_x: Tensor, support_y: Tensor, query_x: Tensor, query_y: Tensor):
            return self.task_loss(support_x, support_y, query_x, query_y, batch.ways, first_order)

        return torch.func.vmap(one_task, randomness="different")(
            batch.support_x, batch.support_y, batch.query_x, batch.query_y
        )

    def predict(self, episode: Episode) -> Tensor:
        _, query_logits = self.adapt(episode.support_x, episode.support_y, episode.ways, first_order=True, detach=True)
        with torch.no_grad():
            return query_logits(episode.query_x)

    def export_predictor(self) -> nn.Module:
        """An :class:`AdaptationPredictor`: a frozen copy of this learner running its own ``adapt``."""
        return AdaptationPredictor(self)


def use_batch_statistics(module: nn.Module) -> None:
    """Make every batch-norm layer normalise with the statistics of the batch at hand.

    Gradient learners meta-learn weights that work *after adaptation* under batch
    statistics; running averages collected across tasks and inner steps do not
    describe adapted weights, and predicting with them collapses to one class.
    So, as in Finn et al. (2017), batch norm uses batch statistics in meta-training,
    evaluation and the exported predictor alike (support and query passes each
    normalise over their own images).
    """
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.track_running_stats = False
            layer.running_mean = layer.running_var = layer.num_batches_tracked = None


def _eager_task_loss(learner: GradientLearner, *args) -> tuple[Tensor, Tensor]:
    return learner.task_loss(*args)


_compiled: dict[bool, Callable] = {}
_compile_failure: list[str] = []


def _compiled_task_loss(first_order: bool) -> Callable:
    """``torch.compile``d per-task loss (one per first/second order), eager once compilation fails."""
    if _compile_failure:
        return _eager_task_loss
    if first_order not in _compiled:
        compiled = torch.compile(_eager_task_loss)

        def guarded(*args):
            try:
                return compiled(*args)
            except Exception as exc:  # any compiler failure: keep training, eagerly
                _compile_failure.append(repr(exc).splitlines()[0][:300])
                log.warning("torch.compile of the task loss failed (%s); continuing eagerly", _compile_failure[0])
                return _eager_task_loss(*args)

        _compiled[first_order] = guarded
    return _compiled[first_order]


class PerStepBatchNorm(nn.Module):
    """MAML++ "BNRS/BNWB" (Antoniou et al. 2019): one copy of every batch-norm layer per inner step.

    Batch statistics drift as the weights adapt, so each inner step (and the
    final query pass) gets its own affine parameters (normalisation always uses
    batch statistics, see :func:`use_batch_statistics`),
    meta-learned by the outer optimizer and not adapted in the inner loop.
    """

    def __init__(self, backbone: nn.Module, sets: int):
        super().__init__()
        self.layer_names = [
            name for name, module in backbone.named_modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)
        ]
        modules = dict(backbone.named_modules())
        self.sets = nn.ModuleList(
            nn.ModuleList(copy.deepcopy(modules[name]) for name in self.layer_names) for _ in range(sets)
        )
        self.parameter_names = {
            f"{layer}.{tensor}" for layer in self.layer_names for tensor, _ in modules[layer].named_parameters()
        }

    def tensors(self, step: int) -> Params:
        """Parameters and buffers of set ``step``, named as in the backbone."""
        layers = self.sets[min(step, len(self.sets) - 1)]
        return {
            f"{name}.{tensor}": value
            for name, layer in zip(self.layer_names, layers)
            for tensor, value in [*layer.named_parameters(), *layer.named_buffers()]
        }

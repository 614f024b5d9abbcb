"""MR-MAML: meta-regularisation on weights (Yin et al. 2020, "Meta-Learning without Memorization").

When every task keeps the same class-to-label assignment ("non-mutually-exclusive"
tasks), a meta-learner can memorise the assignment in its weights and ignore the
support set, which fails on novel classes. MR-MAML makes part of the network
stochastic, ``theta ~ q = N(mu, sigma^2)`` sampled with the reparameterisation
trick, and adds ``beta * KL(q || prior)`` with ``prior = N(0, prior_std^2)`` to the
meta-loss: an information bottleneck on what the meta-parameters can store, so
the task must be solved through adaptation.

``attach`` turns the chosen ``nn.Conv2d`` / ``nn.Linear`` layers of the learner
into their stochastic versions in place (a class swap: same weights, same
hyper-parameters, plus a ``weight_log_std`` parameter). In eval mode they use the
posterior mean, and ``finish_predictor`` hands deployment plain layers, so
export and compression see an ordinary network.

As in the paper's MR-MAML(W), the stochastic layers are meta-parameters only:
gradient learners leave them out of the inner loop (``meta_only_parameters``),
so the inner loop cannot rewrite what the KL term bounds, and the task must be
solved by adapting the remaining parameters (the head, batch-norm parameters,
layers not chosen). ``adapt_stochastic: true`` lets the inner loop adapt them too.

Where to put the bottleneck: the pattern ``head`` chooses classic MAML's learned
head init (``head_init: learned``), which stays adapted in every task (it is the
task's classifier) but is drawn from its posterior. That is where a fixed
class-to-label assignment is stored: from a zero head, gradient steps give
logits that permute with the support labels whatever the rest of the network is,
so the other weights cannot encode which label a class has. The prior's mean,
zero, is that memorisation-free head; the KL term prices every nat the head init
keeps about the training labels. Bounding only the backbone leaves the head free
to read the assignment off generic features (BENCHMARKS.md measures both).

One weight sample is drawn per meta-step (in ``before_update``, for the next
one) and shared by every forward pass of it, so the support and the query pass
of a task see the same network. The paper draws one sample per task; one per
meta-batch is the same unbiased estimate of the expected loss, with more variance.
"""

from __future__ import annotations

import copy
import fnmatch
import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from autometa import PluginError, PluginOptions, Regularizer


class StochasticConv2d(nn.Conv2d):
    """A convolution whose weight is ``weight + exp(weight_log_std) * weight_noise`` in training mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, sampled_weight(self), self.bias)


class StochasticLinear(nn.Linear):
    """A linear layer whose weight is ``weight + exp(weight_log_std) * weight_noise`` in training mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, sampled_weight(self), self.bias)


STOCHASTIC = {nn.Conv2d: StochasticConv2d, nn.Linear: StochasticLinear}
DETERMINISTIC = {v: k for k, v in STOCHASTIC.items()}


def sampled_weight(layer: nn.Module) -> torch.Tensor:
    """The current reparameterised sample in training mode; the posterior mean in eval mode."""
    if not layer.training:
        return layer.weight
    return layer.weight + layer.weight_log_std.exp() * layer.weight_noise


def resample(layer: nn.Module) -> None:
    """Draw the standard-normal noise of the next weight sample (not saved in checkpoints)."""
    layer.weight_noise = torch.randn_like(layer.weight_noise)


def make_stochastic(layer: nn.Module, init_std: float) -> None:
    """Turn a plain ``nn.Conv2d`` / ``nn.Linear`` into its stochastic version, in place."""
    layer.__class__ = STOCHASTIC[type(layer)]
    layer.weight_log_std = nn.Parameter(torch.full_like(layer.weight.detach(), math.log(init_std)))
    layer.register_buffer("weight_noise", torch.randn_like(layer.weight.detach()), persistent=False)


def make_deterministic(root: nn.Module) -> None:
    """Replace every stochastic layer under ``root`` by the plain layer of its posterior mean, in place."""
    for layer in root.modules():
        if type(layer) in DETERMINISTIC:
            del layer.weight_log_std, layer.weight_noise
            layer.__class__ = DETERMINISTIC[type(layer)]


def gaussian_kl(mean: torch.Tensor, log_std: torch.Tensor, prior_std: float) -> torch.Tensor:
    """KL(N(mean, exp(log_std)^2) || N(0, prior_std^2)), summed over all entries."""
    variance_ratio = (2 * log_std).exp() / prior_std**2
    return 0.5 * (variance_ratio + mean.pow(2) / prior_std**2 - 1 - variance_ratio.log()).sum()


class MRMAML(Regularizer):
    """Stochastic weights on chosen layers with a KL penalty to a prior, so tasks cannot be memorised.

    Yin, Tucker, Zhou, Levine & Finn, "Meta-Learning without Memorization", ICLR
    2020 (MR-MAML, meta-regularisation on weights). See the module docstring.
    """

    name = "mr_maml"

    class Options(PluginOptions):
        layers: list[str] = Field(
            default_factory=lambda: ["backbone.*"],
            description="glob patterns over the learner's module names choosing the Conv2d/Linear layers made "
            "stochastic; 'head' is a learned head init, where classic MAML memorises label assignments",
        )
        beta: float = Field(1e-4, ge=0, description="weight of KL(posterior || prior) in the meta-loss")
        prior_std: float = Field(
            0.1, gt=0,
            description="standard deviation of the zero-mean Gaussian prior (near the weights' scale; "
            "under N(0, 1) batch-normed weights escape the bottleneck)",
        )
        init_std: float = Field(0.05, gt=0, description="initial standard deviation of the weight posterior")
        adapt_stochastic: bool = Field(
            False, description="let the inner loop adapt the stochastic layers too (the paper keeps them meta-only)"
        )

    def __init__(self, options: Options):
        super().__init__(options)
        self.stochastic: list[nn.Module] = []
        self.stochastic_names: list[str] = []

    def attach(self, learner: Any) -> None:
        chosen = [
            (name, module)
            for name, module in learner.named_modules()
            if type(module) in STOCHASTIC and any(fnmatch.fnmatchcase(name, p) for p in self.options.layers)
        ]
        if not chosen:
            candidates = [name for name, module in learner.named_modules() if type(module) in STOCHASTIC]
            raise PluginError(
                f"mr_maml: no Conv2d or Linear layer of the learner matches layers={self.options.layers}; "
                f"use patterns such as 'backbone.*' (this learner's layers: {', '.join(candidates) or 'none'})"
            )
        for _, module in chosen:
            make_stochastic(module, self.options.init_std)
        self.stochastic = [module for _, module in chosen]
        self.stochastic_names = [name for name, _ in chosen]

    def meta_only_parameters(self, learner: Any) -> set[str]:
        if self.options.adapt_stochastic:
            return set()
        return {
            f"{name}.{tensor}" for name, module in zip(self.stochastic_names, self.stochastic)
            for tensor, _ in module.named_parameters()
        }

    def before_update(self, learner: Any) -> None:
        for layer in self.stochastic:
            resample(layer)

    def finish_predictor(self, predictor: nn.Module) -> nn.Module:
        predictor = copy.deepcopy(predictor)  # never strip the learner's own layers
        make_deterministic(predictor)
        return predictor

    def outer_penalty(self, learner: Any) -> torch.Tensor | float:
        if not self.stochastic:
            return 0.0
        kl = sum(gaussian_kl(m.weight, m.weight_log_std, self.options.prior_std) for m in self.stochastic)
        return self.options.beta * kl

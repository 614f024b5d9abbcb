"""Fine-tuning at deployment: a linear or cosine classifier fitted on the support set and augmented copies of it.

The whole-class pretraining papers classify a new task with a classifier fitted
on its support features: Chen et al. (2019) a linear one (Baseline) or a cosine
one (Baseline++), Tian et al. (2020, RFS) logistic regression on L2-normalised
features; Hu et al. (2022, P>M>F) fine-tune on augmented copies of the support
set. Here the features are L2-normalised and the classifier starts from the
class prototypes (at 0 steps it *is* a prototype classifier: cosine, or squared
Euclidean for ``linear``, Snell et al.'s linear view of ProtoNet), then takes
``steps`` gradient-descent steps on the support cross-entropy. The gradient is
written out in closed form, so the fit needs no autograd: the exported
predictor carries it, and ``torch.export`` and ONNX trace it with N, S and Q
dynamic. ``views`` augmented copies of every support image join the support set;
their settings are drawn once (seeded) from the ``view_augment`` components and
stored with the weights, so the exported file applies the same copies.

Meta-training backpropagates the query loss through the unrolled steps (they are
plain tensor operations), without the views. Only the classifier is fitted at
deployment, not the last backbone block (that would need autograd in the file).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from autometa import Augmentation, EmbeddingLearner, EmbeddingPredictor, Episode, PluginOptions, component_type
from autometa_plugins.learners._distances import class_means, l2_normalize

#: Seed of the stored view settings: the same copies in every run and in the exported file.
VIEWS_SEED = 0


class FinetuneOptions(PluginOptions):
    classifier: Literal["linear", "cosine"] = Field(
        "cosine", description="'linear': scale * f.w + b (logistic regression); 'cosine': scale * cos(f, w)"
    )
    steps: int = Field(0, ge=0, le=1000, description="gradient steps on the support set (0: the prototype classifier)")
    lr: float = Field(0.5, gt=0, description="step size of the classifier fit")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty on the classifier weights during the fit")
    scale: float = Field(10.0, gt=0, description="logit scale applied to the L2-normalised features")
    views: int = Field(0, ge=0, le=64, description="augmented copies of each support image added to the support set")
    view_augment: list[component_type("augmentation")] = Field(
        default_factory=lambda: [{"affine": {"rotation": 8.0, "shear": 5.0, "scale_min": 0.9, "scale_max": 1.1,
                                             "translate": 0.05}}],
        description="augmentations that make the support copies (settings drawn once and stored)",
    )


class FittedClassifier(nn.Module):
    """Logits of a classifier fitted on the support features by closed-form gradient steps.

    ``forward(support [..., S, D], onehot [..., S, N], query [..., Q, D]) -> [..., Q, N]``.
    """

    def __init__(self, kind: str, steps: int, lr: float, weight_decay: float, scale: float):
        super().__init__()
        self.kind, self.steps, self.lr, self.weight_decay, self.scale = kind, steps, lr, weight_decay, scale

    def forward(self, support: Tensor, onehot: Tensor, query: Tensor) -> Tensor:
        support, query = l2_normalize(support), l2_normalize(query)
        weight = class_means(support, onehot)  # [..., N, D]
        bias = -0.5 * self.scale * (weight * weight).sum(-1)  # linear: logits = -scale/2 |f - w|^2 + const
        for _ in range(self.steps):
            residual = (torch.softmax(self._logits(support, weight, bias), dim=-1) - onehot) / support.shape[-2]
            grad = self.scale * residual.transpose(-1, -2) @ support  # dL/d(w or w_hat) [..., N, D]
            if self.kind == "cosine":  # through w_hat = w / |w|: (I - w_hat w_hat^T) grad / |w|
                norm = (weight * weight).sum(-1, keepdim=True).clamp_min(1e-12).sqrt()
                unit = weight / norm
                grad = (grad - (grad * unit).sum(-1, keepdim=True) * unit) / norm
            else:
                bias = bias - self.lr * residual.sum(-2)
            weight = weight - self.lr * (grad + self.weight_decay * weight)
        return self._logits(query, weight, bias)

    def _logits(self, features: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        if self.kind == "cosine":
            return self.scale * features @ l2_normalize(weight).transpose(-1, -2)
        return self.scale * features @ weight.transpose(-1, -2) + bias.unsqueeze(-2)


class SupportViews(nn.Module):
    """Adds ``count`` augmented copies of every support image (stored settings) to the support set."""

    def __init__(self, augmentations: Sequence[Augmentation], count: int):
        super().__init__()
        self.augmentations, self.count = list(augmentations), count
        generator = torch.Generator().manual_seed(VIEWS_SEED)
        for i, augmentation in enumerate(self.augmentations):
            self.register_buffer(f"settings{i}", augmentation.sample(count, generator))

    def forward(self, support: Tensor, onehot: Tensor) -> tuple[Tensor, Tensor]:
        shots, views = support.shape[0], self.count
        copies = support.unsqueeze(1).expand(shots, views, *support.shape[1:]).reshape(shots * views, *support.shape[1:])
        for i, augmentation in enumerate(self.augmentations):
            settings = getattr(self, f"settings{i}")
            copies = augmentation.apply(copies, settings.unsqueeze(0).expand(shots, *settings.shape).flatten(0, 1))
        labels = onehot.unsqueeze(1).expand(shots, views, onehot.shape[1]).reshape(shots * views, onehot.shape[1])
        return torch.cat([support, copies]), torch.cat([onehot, labels])


class FinetunePredictor(EmbeddingPredictor):
    """The backbone and fitted classifier, with the support copies made first when there are views."""

    def __init__(self, backbone: nn.Module, head: nn.Module, views: SupportViews | None):
        super().__init__(backbone, head)
        self.views = views

    def forward(self, support_images: Tensor, support_onehot: Tensor, query_images: Tensor) -> Tensor:
        if self.views is not None:
            support_images, support_onehot = self.views(support_images, support_onehot)
        return super().forward(support_images, support_onehot, query_images)


class Finetune(EmbeddingLearner):
    """A classifier fitted on the (augmented) support set at prediction time (Baseline++, RFS, P>M>F)."""

    name = "finetune"
    Options = FinetuneOptions

    def __init__(self, options: FinetuneOptions, backbone: nn.Module, ways: int, registry, regularizers=()):
        super().__init__(options, backbone, ways, registry, regularizers)
        augmentations = [registry.create("augmentation", ref) for ref in options.view_augment]
        self.views = SupportViews(augmentations, options.views) if options.views else None

    def make_head(self, features: int) -> nn.Module:
        o = self.options
        return FittedClassifier(o.classifier, o.steps, o.lr, o.weight_decay, o.scale)

    @torch.no_grad()
    def predict(self, episode: Episode) -> Tensor:
        """What the exported predictor computes (views and fit included)."""
        return FinetunePredictor(self.backbone, self.head, self.views)(*episode.predictor_inputs())

    def export_predictor(self) -> nn.Module:
        return FinetunePredictor(
            copy.deepcopy(self.backbone), copy.deepcopy(self.head), copy.deepcopy(self.views)
        ).eval()

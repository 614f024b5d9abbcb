"""A task-conditioned meta-network: the classifier head is generated from the support set.

No inner gradient steps: a *task encoder* embeds every support feature into a
code (LEO's encoder, Rusu et al. 2019), codes are averaged per class and over
the whole support set (a task code), and a *decoder* generates each class's
classifier weight vector and bias from its class code and the task code (LEO's
decoder, used here directly as the prediction instead of as the start of
latent-space inner steps). As in the dynamic few-shot weight generator of
Gidaris and Komodakis (2018) and the parameter predictor of Qiao et al. (2018),
the generated weight adds a learned gain times the class-mean feature, so the
decoder learns a correction to a prototype rather than the weights from scratch,
and the default classifier is cosine with a learned scale.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from autometa import EmbeddingLearner, PluginOptions
from autometa_plugins.learners._distances import (
    Temperature,
    class_means,
    cosine_similarity,
)


class TaskConditionedOptions(PluginOptions):
    code_size: int = Field(64, ge=1, le=4096, description="size of the per-example, per-class and task codes")
    hidden: int = Field(256, ge=1, le=8192, description="hidden units of the encoder and decoder MLPs")
    classifier: Literal["cosine", "linear"] = Field(
        "cosine", description="cosine classifier with a learned scale, or a linear one with a generated bias"
    )
    temperature: float = Field(0.1, gt=0, description="initial temperature of the cosine classifier (learned)")


class TaskConditionedNetwork(EmbeddingLearner):
    """Task-conditioned meta-network: a support-set encoder and a decoder generate the head's weights."""

    name = "task_conditioned"
    Options = TaskConditionedOptions

    def make_head(self, features: int) -> nn.Module:
        options = self.options
        return GeneratedClassifierHead(features, options.code_size, options.hidden, options.classifier, options.temperature)


class GeneratedClassifierHead(nn.Module):
    """Encode the support set, decode one weight vector (and bias) per class, classify the queries."""

    def __init__(self, features: int, code_size: int, hidden: int, classifier: str, temperature: float):
        super().__init__()
        self.classifier = classifier
        self.encoder = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, code_size))
        self.decoder = nn.Sequential(nn.Linear(2 * code_size, hidden), nn.ReLU(), nn.Linear(hidden, features + 1))
        self.prototype_gain = nn.Parameter(torch.ones(features))
        self.temperature = Temperature(temperature, learnable=True)

    def forward(self, support: Tensor, onehot: Tensor, query: Tensor) -> Tensor:
        codes = self.encoder(support)  # [..., S, code]
        class_codes = class_means(codes, onehot)  # [..., N, code]
        task_code = codes.mean(-2, keepdim=True).expand_as(class_codes)
        generated = self.decoder(torch.cat([class_codes, task_code], -1))  # [..., N, D + 1]
        weights = self.prototype_gain * class_means(support, onehot) + generated[..., :-1]
        if self.classifier == "cosine":
            return self.temperature(cosine_similarity(query, weights))
        return query @ weights.transpose(-1, -2) + generated[..., -1].unsqueeze(-2)

"""Prototypical Networks (Snell, Swersky and Zemel, 2017).

Each class is represented by its *prototype*, the mean embedding of its support
images; a query's logit for a class is its negative squared Euclidean distance
to the prototype (or, as an option, its cosine similarity), divided by a
temperature. The temperature may be learned, as in TADAM's metric scaling
(Oreshkin et al. 2018).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor, nn

from autometa import EmbeddingLearner, PluginOptions
from autometa_plugins.learners._distances import (
    Temperature,
    class_means,
    cosine_similarity,
    squared_euclidean,
)

#: Temperature used when none is given: squared distances are large, cosines lie in [-1, 1].
DEFAULT_TEMPERATURE = {"squared_euclidean": 1.0, "cosine": 0.1}


class ProtoNetOptions(PluginOptions):
    distance: Literal["squared_euclidean", "cosine"] = Field(
        "squared_euclidean", description="how queries are compared with class prototypes"
    )
    temperature: float | None = Field(
        None, gt=0, description="logits are similarities divided by this (default: 1 for squared_euclidean, 0.1 for cosine)"
    )
    learn_temperature: bool = Field(False, description="meta-learn the temperature (metric scaling)")


class ProtoNet(EmbeddingLearner):
    """Prototypical Networks: queries scored by distance to class-mean embeddings (Snell et al. 2017)."""

    name = "protonet"
    Options = ProtoNetOptions

    def make_head(self, features: int) -> nn.Module:
        temperature = self.options.temperature or DEFAULT_TEMPERATURE[self.options.distance]
        return PrototypeHead(self.options.distance, temperature, self.options.learn_temperature)


class PrototypeHead(nn.Module):
    """Logits = similarity(query, class mean of support features) / temperature."""

    def __init__(self, distance: str, temperature: float, learn_temperature: bool):
        super().__init__()
        self.distance = distance
        self.temperature = Temperature(temperature, learn_temperature)

    def forward(self, support: Tensor, onehot: Tensor, query: Tensor) -> Tensor:
        prototypes = class_means(support, onehot)
        if self.distance == "cosine":
            return self.temperature(cosine_similarity(query, prototypes))
        return self.temperature(-squared_euclidean(query, prototypes))

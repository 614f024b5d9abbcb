"""Siamese networks for one-shot recognition (Koch, Zemel and Salakhutdinov, 2015).

Twin copies of the backbone (one set of weights) embed a query and a support
image; a learned scorer maps the component-wise absolute difference of the two
embeddings to a same-class logit (Koch et al.: a weighted L1 distance, i.e. a
linear layer, followed by a sigmoid). Training follows the paper's verification
objective, binary cross-entropy on every query-support pair of an episode
(positive pairs weighted N-1 so both outcomes count equally), or optionally
cross-entropy on the class scores. A class's score for a query is the mean (or
the max, Koch et al.'s one-shot rule) of its pair logits over that class's
support images.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from autometa import EmbeddingLearner, PluginOptions


class SiameseOptions(PluginOptions):
    hidden: int = Field(
        0, ge=0, le=4096, description="hidden units of the pair scorer; 0 = one linear layer (weighted L1, as Koch et al.)"
    )
    aggregate: Literal["mean", "max"] = Field(
        "mean", description="how a class's pair logits over its support images become the class score"
    )
    loss: Literal["pairwise_bce", "cross_entropy"] = Field(
        "pairwise_bce", description="verification loss on every query-support pair, or cross-entropy on class scores"
    )


class SiameseNetwork(EmbeddingLearner):
    """Siamese networks: a learned same-class score on query-support pairs (Koch et al. 2015)."""

    name = "siamese"
    Options = SiameseOptions

    def make_head(self, features: int) -> nn.Module:
        return PairSimilarityHead(features, self.options.hidden, self.options.aggregate)

    def task_loss(self, support: Tensor, onehot: Tensor, query: Tensor, query_y: Tensor) -> tuple[Tensor, Tensor]:
        if self.options.loss == "cross_entropy":
            return super().task_loss(support, onehot, query, query_y)
        pairs = self.head.pair_logits(support, query)  # [B, Q, S]
        ways = onehot.shape[-1]
        same_class = F.one_hot(query_y, ways).to(onehot.dtype) @ onehot.transpose(-1, -2)  # [B, Q, S]
        positive_weight = torch.tensor(float(ways - 1), device=pairs.device)
        loss = F.binary_cross_entropy_with_logits(pairs, same_class, pos_weight=positive_weight)
        return loss, self.head.class_scores(pairs, onehot)


class PairSimilarityHead(nn.Module):
    """Scores each query-support pair from ``|f(query) - f(support)|``, then each class from its pairs."""

    def __init__(self, features: int, hidden: int, aggregate: str):
        super().__init__()
        self.aggregate = aggregate
        if hidden:
            self.scorer = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        else:
            self.scorer = nn.Linear(features, 1)

    def pair_logits(self, support: Tensor, query: Tensor) -> Tensor:
        """``[..., S, D]``, ``[..., Q, D]`` -> same-class logits ``[..., Q, S]``."""
        return self.scorer((query.unsqueeze(-2) - support.unsqueeze(-3)).abs()).squeeze(-1)

    def class_scores(self, pairs: Tensor, onehot: Tensor) -> Tensor:
        """Pair logits ``[..., Q, S]`` -> class scores ``[..., Q, N]``."""
        if self.aggregate == "max":
            masked = torch.where(onehot.unsqueeze(-3) > 0, pairs.unsqueeze(-1), float("-inf"))  # [..., Q, S, N]
            return masked.amax(-2)
        return pairs @ onehot / onehot.sum(-2).clamp_min(1.0).unsqueeze(-2)

    def forward(self, support: Tensor, onehot: Tensor, query: Tensor) -> Tensor:
        return self.class_scores(self.pair_logits(support, query), onehot)

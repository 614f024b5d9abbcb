"""The embedding learner: embed support and queries once, score them with a head (no inner loop).

These learners have no inner loop. A backbone embeds the support and query
images; a small *head* module turns ``(support features, support one-hot
labels, query features)`` into query logits: prototypes and a distance
(ProtoNet), attention over the support set (Matching Networks), a pairwise
similarity network (Siamese), or generated classifier weights (task-conditioned).
Meta-training back-propagates the query loss through head and backbone; the
deployable predictor is the same backbone and head, so it needs no autograd and
handles any number of ways, shots and queries.
"""

from __future__ import annotations

import contextlib
import copy
from abc import abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autometa.data.episodes import Episode, TaskBatch
from autometa.learning.learner import MetaLearner, StepOutput


class EmbeddingPredictor(nn.Module):
    """The deployable few-shot predictor of an embedding learner.

    ``forward(support_images [S,C,H,W], support_onehot [S,N], query_images [Q,C,H,W]) -> logits [Q,N]``.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def describe(self) -> str:
        return "embeds the support and query images with the backbone and scores the queries with the head"

    def forward(self, support_images: Tensor, support_onehot: Tensor, query_images: Tensor) -> Tensor:
        return self.head(self.backbone(support_images), support_onehot, self.backbone(query_images))


class EmbeddingLearner(MetaLearner):
    """Base of learners that score queries with a head over backbone features (no inner loop).

    Subclasses build their head in :meth:`make_head`; a head's ``forward(support_features
    [...,S,D], support_onehot [...,S,N], query_features [...,Q,D])`` returns logits
    ``[...,Q,N]`` for any leading batch dimensions. Override :meth:`task_loss` for a
    training objective other than query cross-entropy.
    """

    @abstractmethod
    def make_head(self, features: int) -> nn.Module:
        """The head scoring queries against the support set in a ``features``-dimensional space."""

    def task_loss(self, support: Tensor, onehot: Tensor, query: Tensor, query_y: Tensor) -> tuple[Tensor, Tensor]:
        """Mean loss over tasks and the query logits ``[B, Q, N]`` (features already float32)."""
        logits = self.head(support, onehot, query)
        return F.cross_entropy(logits.flatten(0, 1), query_y.flatten()), logits

    def meta_step(self, batch: TaskBatch) -> StepOutput:
        support, query = self._embed(batch.support_x, batch.query_x)
        onehot = F.one_hot(batch.support_y, batch.ways).to(support.dtype)
        with full_precision(support.device):
            loss, logits = self.task_loss(support, onehot, query, batch.query_y)
        loss = loss + self.outer_penalty()
        loss.backward()
        accuracy = (logits.argmax(-1) == batch.query_y).float().mean()
        return StepOutput(loss=loss.item(), accuracy=accuracy.item())

    @torch.no_grad()  # the evaluator leaves autograd on for gradient learners; no graph is needed here
    def predict(self, episode: Episode) -> Tensor:
        support, query = self._embed(episode.support_x[None], episode.query_x[None])
        onehot = F.one_hot(episode.support_y, episode.ways).to(support.dtype)
        with full_precision(support.device):
            return self.head(support[0], onehot, query[0])

    def export_predictor(self) -> nn.Module:
        """A copy (later pruning or distillation leaves this learner intact), in eval mode."""
        return EmbeddingPredictor(copy.deepcopy(self.backbone), copy.deepcopy(self.head)).eval()

    def _embed(self, support_x: Tensor, query_x: Tensor) -> tuple[Tensor, Tensor]:
        """Embed ``[B, S, C, H, W]`` and ``[B, Q, C, H, W]`` in one backbone call -> float32 features."""
        batch, shots, queries = support_x.shape[0], support_x.shape[1], query_x.shape[1]
        features = self.backbone(torch.cat([support_x.flatten(0, 1), query_x.flatten(0, 1)])).float()
        split = batch * shots
        return features[:split].view(batch, shots, -1), features[split:].view(batch, queries, -1)


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Disable autocast: distances of bf16 features lose the small differences that matter."""
    return torch.autocast(device.type, enabled=False)

"""The deployable predictor of gradient-based learners: closed-form gradient steps on a linear head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class HeadAdaptationPredictor(nn.Module):
    """Deployable predictor of gradient-based learners: adapt a linear head, then classify.

    ``forward(support_images [S,C,H,W], support_onehot [S,N], query_images [Q,C,H,W]) -> [Q,N]``.
    The body is frozen at its meta-learned weights (``.backbone``); the head takes
    the learner's inner steps of gradient descent on the support cross-entropy,
    whose gradient is written out (``(softmax - onehot)^T features / S``), so no
    autograd runs and ``torch.export`` traces it with N, S and Q dynamic. Same
    computation as ANIL's ``predict``; for MAML it adapts the head only.
    Regularizers' inner penalties are not applied.
    """

    def __init__(
        self,
        backbone: nn.Module,
        weight_step_sizes: Tensor,
        bias_step_sizes: Tensor,
        head: tuple[Tensor, Tensor] | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("weight_step_sizes", weight_step_sizes)  # [steps, 1, D]
        self.register_buffer("bias_step_sizes", bias_step_sizes)  # [steps, 1]
        self.learned_head = head is not None
        self.register_buffer("head_weight", head[0] if head else None)
        self.register_buffer("head_bias", head[1] if head else None)

    def forward(self, support_images: Tensor, support_onehot: Tensor, query_images: Tensor) -> Tensor:
        support = self.backbone(support_images)
        query = self.backbone(query_images)
        if self.learned_head:
            weight, bias = self.head_weight, self.head_bias
        else:
            weight = torch.zeros_like(support_onehot.t() @ support)
            bias = torch.zeros_like(support_onehot[0])
        for step in range(self.weight_step_sizes.shape[0]):
            probabilities = torch.softmax(F.linear(support, weight, bias), dim=1)
            residual = (probabilities - support_onehot) / support_onehot.shape[0]
            weight = weight - self.weight_step_sizes[step] * (residual.t() @ support)
            bias = bias - self.bias_step_sizes[step] * residual.sum(0)
        return F.linear(query, weight, bias)

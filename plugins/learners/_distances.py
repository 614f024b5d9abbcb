"""Similarities and class summaries shared by the metric and amortized learners.

Every function accepts leading batch dimensions (``[..., S, D]``), so the same
code scores a batch of tasks in training and one episode in the exported
predictor. Squared distances are written as ``|a|^2 - 2ab + |b|^2``:
``torch.cdist`` pins dynamic sizes under ``torch.export``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def squared_euclidean(queries: Tensor, keys: Tensor) -> Tensor:
    """``[..., Q, D]`` x ``[..., N, D]`` -> ``[..., Q, N]`` squared Euclidean distances."""
    cross = queries @ keys.transpose(-1, -2)
    return (queries * queries).sum(-1, keepdim=True) - 2 * cross + (keys * keys).sum(-1).unsqueeze(-2)


def cosine_similarity(queries: Tensor, keys: Tensor, eps: float = 1e-8) -> Tensor:
    """``[..., Q, D]`` x ``[..., N, D]`` -> ``[..., Q, N]`` cosine similarities."""
    return l2_normalize(queries, eps) @ l2_normalize(keys, eps).transpose(-1, -2)


def l2_normalize(x: Tensor, eps: float = 1e-8) -> Tensor:
    return x / (x * x).sum(-1, keepdim=True).clamp_min(eps * eps).sqrt()


def class_means(features: Tensor, onehot: Tensor) -> Tensor:
    """Per-class mean of ``features [..., S, D]`` under labels ``onehot [..., S, N]`` -> ``[..., N, D]``."""
    counts = onehot.sum(-2).clamp_min(1.0).unsqueeze(-1)
    return onehot.transpose(-1, -2) @ features / counts


class Temperature(nn.Module):
    """Divides logits by a temperature, a fixed buffer or meta-learned (kept positive as a log)."""

    def __init__(self, temperature: float, learnable: bool):
        super().__init__()
        log_temperature = torch.tensor(math.log(temperature))
        if learnable:
            self.log_temperature = nn.Parameter(log_temperature)
        else:
            self.register_buffer("log_temperature", log_temperature)

    def forward(self, logits: Tensor) -> Tensor:
        return logits / self.log_temperature.exp()

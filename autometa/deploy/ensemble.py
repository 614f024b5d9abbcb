"""Several trained predictors shipped as one: the average of their class probabilities (``export.ensemble``).

Averaging the probabilities of a few strong, different strategies is a cheap,
reliable gain in few-shot classification; the ensemble is one module with the
predictor contract, so it is measured, exported and verified like any other.
It returns the log of the averaged probabilities: its argmax is the ensemble's
prediction and a softmax of it gives the averaged probabilities back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


class EnsemblePredictor(nn.Module):
    """``members``' class probabilities for the queries, averaged (as log-probabilities)."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        self.members = nn.ModuleList(members)

    def forward(self, support: Tensor, support_onehot: Tensor, query: Tensor) -> Tensor:
        log_probs = [member(support, support_onehot, query).log_softmax(-1) for member in self.members]
        return torch.logsumexp(torch.stack(log_probs), dim=0) - math.log(len(log_probs))

    def describe(self) -> str:
        """What the model card says the predictor does."""
        return f"averages the class probabilities of {len(self.members)} predictors (the top trials of the search)"

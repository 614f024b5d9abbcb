"""Episodes: N-way K-shot Q-query tasks drawn from class-disjoint splits.

Labels are remapped per episode to ``0..N-1`` in a random order; support and
query images never overlap. A :class:`TaskBatch` stacks ``B`` episodes as
tensors ready for the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Episode:
    """One task: images are float tensors ``[N*K, C, H, W]`` / ``[N*Q, C, H, W]``."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    ways: int

    def to(self, device: torch.device | str) -> Episode:
        return Episode(
            self.support_x.to(device), self.support_y.to(device),
            self.query_x.to(device), self.query_y.to(device), self.ways,
        )


@dataclass
class TaskBatch:
    """``B`` episodes of one shape: ``support_x [B, N*K, C, H, W]``, ``support_y [B, N*K]``, ..."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    ways: int

    def __len__(self) -> int:
        return self.support_x.shape[0]

    def episode(self, i: int) -> Episode:
        return Episode(self.support_x[i], self.support_y[i], self.query_x[i], self.query_y[i], self.ways)

    def to(self, device: torch.device | str) -> TaskBatch:
        return TaskBatch(
            self.support_x.to(device), self.support_y.to(device),
            self.query_x.to(device), self.query_y.to(device), self.ways,
        )

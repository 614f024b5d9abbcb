"""Optimizers and learning-rate schedules by name, shared by meta-training and pretraining."""

from __future__ import annotations

import torch


def build_optimizer(
    name: str, parameters: list[torch.nn.Parameter], lr: float, weight_decay: float | None = None
) -> torch.optim.Optimizer:
    """``adam``, ``adamw`` or ``sgd`` (Nesterov momentum 0.9: plain SGD rarely trains well).

    ``weight_decay`` None keeps each optimizer's default (0, but 0.01 for AdamW).
    """
    decay = {} if weight_decay is None else {"weight_decay": weight_decay}
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, **decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, **decay)
    return torch.optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True, **decay)


def build_schedule(name: str, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """``constant``, or ``cosine`` annealing from the initial rate to 0 over ``total_steps``."""
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)

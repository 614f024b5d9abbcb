"""Structured channel pruning with Torch-Pruning's dependency graph.

The graph finds every layer coupled to a channel (the conv that makes it, its
batch norm, the next conv that reads it, residual partners), so whole channels
are removed from every architecture without per-architecture code: the model
is physically smaller and faster. Pruning can be iterative: remove a share of
channels, fine-tune on meta-train episodes, repeat.
"""

from __future__ import annotations

import copy
from typing import ClassVar, Literal

import torch_pruning as tp
from pydantic import Field
from torch import nn

from autometa import (
    CompressionContext,
    PluginOptions,
    Pruner,
    RecipeError,
    StageOutput,
    count_parameters,
    feature_size,
    head_needs_feature_size,
    prune_in_steps,
    query_cross_entropy,
)


class ChannelPruningOptions(PluginOptions):
    importance: Literal["magnitude", "taylor"] = Field(
        "magnitude", description="channel score: L2 norm of its weights, or first-order Taylor (|w * dL/dw|)"
    )
    ratio: float = Field(0.5, gt=0, lt=1, description="share of channels removed from each prunable layer")
    iterations: int = Field(1, ge=1, description="prune in this many equal steps, fine-tuning after each")
    finetune_steps: int = Field(100, ge=0, description="meta-train episodes of fine-tuning after each step")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate of the fine-tuning")
    round_to: int | None = Field(None, ge=1, description="keep channel counts a multiple of this (SIMD-friendly)")
    keep_feature_dim: bool | None = Field(
        None,
        description="never prune the backbone's output channels; default: only when weights outside "
        "the backbone (a linear head) are shaped by the feature size",
    )


class ChannelPruner(Pruner):
    """Structured channel pruning (Torch-Pruning dependency graph), magnitude or Taylor, iterative."""

    name: ClassVar[str] = "channels"
    Options: ClassVar[type[ChannelPruningOptions]] = ChannelPruningOptions

    def check(self, predictor: nn.Module) -> None:
        fixed_by = getattr(predictor, "backbone_shapes_fixed_by", lambda: None)()
        if fixed_by:
            raise RecipeError(
                f"compression.pruner channels cannot remove channels from this predictor: its {fixed_by} is "
                "shaped like the backbone's weights; use pruner magnitude (same shapes), or a strategy without it"
            )

    def prune(self, predictor: nn.Module, context: CompressionContext) -> StageOutput:
        self.check(predictor)
        options = self.options
        predictor = copy.deepcopy(predictor).eval()
        backbone = predictor.backbone
        before = count_parameters(predictor)
        keep_output = options.keep_feature_dim
        if keep_output is None:
            keep_output = head_needs_feature_size(predictor, feature_size(backbone, context.example[0]))
        importance = (
            tp.importance.GroupTaylorImportance()
            if options.importance == "taylor"
            else tp.importance.GroupMagnitudeImportance(p=2)
        )
        pruner = tp.pruner.MetaPruner(
            backbone,
            example_inputs=context.example[0],
            importance=importance,
            pruning_ratio=options.ratio,
            iterative_steps=options.iterations,
            ignored_layers=[_last_layer(backbone)] if keep_output else [],
            round_to=options.round_to,
        )
        def prune_step(step: int) -> None:
            if options.importance == "taylor":
                predictor.zero_grad()
                query_cross_entropy(predictor, context.sample_episode()).backward()
            pruner.step()
            backbone.out_features = feature_size(backbone, context.example[0])  # what a zero head is sized by

        prune_in_steps(
            predictor, context, prune_step,
            iterations=options.iterations, finetune_steps=options.finetune_steps, lr=options.lr,
        )
        after = count_parameters(predictor)
        return StageOutput(
            predictor.eval(),
            notes=f"{options.importance} importance, {options.ratio:.0%} of channels in "
            f"{options.iterations} step(s): {before:,} -> {after:,} parameters ({before / after:.1f}x fewer)",
        )


def _last_layer(backbone: nn.Module) -> nn.Module:
    """The last convolution or linear layer defined in the backbone: the one producing its features."""
    layers = [m for m in backbone.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return layers[-1]

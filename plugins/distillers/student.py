"""What the distillers share: their common options and how the student is made."""

from __future__ import annotations

import copy

from pydantic import Field
from torch import nn

from autometa import (
    CompressionContext,
    PluginOptions,
    RecipeError,
    component_type,
    feature_size,
    head_needs_feature_size,
)


class DistillationOptions(PluginOptions):
    steps: int = Field(300, ge=1, description="meta-train episodes of distillation")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate of the student")
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the teacher term (1 - alpha: true labels)")
    student_backbone: component_type("backbone") | None = Field(
        None, description="train this new backbone from scratch as the student (default: the incoming predictor)"
    )


def check_student(predictor: nn.Module, options: DistillationOptions, distiller: str) -> None:
    """Refuse a new student backbone for a predictor that adapts its backbone's weights: its inner
    loop's meta-learned state (rates, per-step batch norm) belongs to the backbone it was trained with."""
    if options.student_backbone is not None and getattr(predictor, "adapts_backbone", False):
        raise RecipeError(
            f"compression.distiller {distiller}: student_backbone cannot replace the backbone this predictor "
            "adapts to every support set with meta-learned inner-loop state; distil into the same backbone "
            "(drop student_backbone), or use a learner that does not adapt its backbone (anil, metric learners)"
        )


def make_student(predictor: nn.Module, backbone_ref, context: CompressionContext) -> nn.Module:
    """A copy of ``predictor``, its backbone replaced by a new one when ``backbone_ref`` is set."""
    student = copy.deepcopy(predictor)
    if backbone_ref is None:
        return student
    new = context.registry.create(
        "backbone",
        backbone_ref,
        in_channels=context.preprocessing.channels,
        image_size=context.preprocessing.image_size,
    )
    images = context.example[0]
    old, wanted = feature_size(student.backbone, images), feature_size(new, images)
    if old != wanted and head_needs_feature_size(student, old):
        raise RecipeError(
            f"compression.distiller.student_backbone: gives {wanted} features but this "
            f"predictor's head expects {old}; choose a backbone with that output size"
        )
    student.backbone = new
    return student


def describe(options: DistillationOptions, extra: str) -> str:
    student = "a new " + options.student_backbone.name if options.student_backbone else "the incoming predictor"
    return f"student: {student}; {options.steps} episodes, alpha={options.alpha:g}, {extra}"

"""Embedding distillation for metric learners: the student's features imitate the teacher's.

Metric learners classify by distances between embeddings, so matching the
teacher's embedding space transfers more than its logits. On each episode the
student's features of all images are mapped by a learned linear projection (it
absorbs a different feature size and is discarded afterwards) onto the
teacher's, with a mean-squared error, plus label cross-entropy on the queries.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from autometa import (
    CompressionContext,
    Distiller,
    Episode,
    StageOutput,
    feature_size,
    fit_on_episodes,
)
from autometa_plugins.distillers.student import (
    DistillationOptions,
    check_student,
    describe,
    make_student,
)


class EmbeddingDistiller(Distiller):
    """Embedding distillation for metric learners (projected feature MSE plus label cross-entropy)."""

    name: ClassVar[str] = "embeddings"
    Options: ClassVar[type[DistillationOptions]] = DistillationOptions

    def check(self, predictor: nn.Module) -> None:
        check_student(predictor, self.options, self.name)

    def distill(self, student: nn.Module, context: CompressionContext) -> StageOutput:
        self.check(student)
        options = self.options
        student = make_student(student, options.student_backbone, context)
        images = context.example[0]
        projection = nn.Linear(
            feature_size(student.backbone, images), feature_size(context.teacher.backbone, images), bias=False
        )

        def loss(episode: Episode):
            inputs = episode.predictor_inputs()
            images = torch.cat([inputs[0], inputs[2]])
            with torch.no_grad():
                target = context.teacher.backbone(images)
            mimic = F.mse_loss(projection(student.backbone(images)), target)
            hard = F.cross_entropy(student(*inputs), episode.query_y.long())
            return options.alpha * mimic + (1 - options.alpha) * hard

        fit_on_episodes(
            student, context, loss, steps=options.steps, lr=options.lr, extra_parameters=list(projection.parameters())
        )
        return StageOutput(student.eval(), notes=describe(options, "projected feature MSE"))

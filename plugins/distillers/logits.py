"""Hinton et al. (2015) logit distillation on episodes, teacher -> student.

On each meta-train episode the student matches the teacher's softened query
logits (KL divergence at temperature T, scaled by T^2) and the true labels
(cross-entropy). The student is the incoming predictor (e.g. the pruned one) or,
with ``student_backbone``, the same predictor with a new, freshly initialised
backbone trained from scratch (distilling a large CNN into a small one).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from torch import nn
from torch.nn import functional as F

from autometa import (
    CompressionContext,
    Distiller,
    Episode,
    StageOutput,
    fit_on_episodes,
)
from autometa_plugins.distillers.student import (
    DistillationOptions,
    check_student,
    describe,
    make_student,
)


class LogitOptions(DistillationOptions):
    temperature: float = Field(4.0, gt=0, description="softmax temperature T of both teacher and student")


class LogitDistiller(Distiller):
    """Hinton logit distillation on episodes (KL at temperature T plus label cross-entropy)."""

    name: ClassVar[str] = "logits"
    Options: ClassVar[type[LogitOptions]] = LogitOptions

    def check(self, predictor: nn.Module) -> None:
        check_student(predictor, self.options, self.name)

    def distill(self, student: nn.Module, context: CompressionContext) -> StageOutput:
        self.check(student)
        options = self.options
        student = make_student(student, options.student_backbone, context)
        t = options.temperature

        def loss(episode: Episode):
            inputs = episode.predictor_inputs()
            logits = student(*inputs)
            soft = F.kl_div(
                F.log_softmax(logits / t, dim=-1),
                F.log_softmax(context.teacher(*inputs) / t, dim=-1),
                log_target=True,
                reduction="batchmean",
            )
            hard = F.cross_entropy(logits, episode.query_y.long())
            return options.alpha * t * t * soft + (1 - options.alpha) * hard

        fit_on_episodes(student, context, loss, steps=options.steps, lr=options.lr)
        return StageOutput(student.eval(), notes=describe(options, f"T={t:g}"))

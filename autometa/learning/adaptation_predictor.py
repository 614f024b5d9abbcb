"""The deployable predictor of gradient learners: the learner's own adaptation, so what ships is what was scored.

:class:`AdaptationPredictor` holds a copy of the learner and runs its ``adapt``,
the very code ``predict`` runs: every inner step on the whole network (or the
head, for ANIL), the inner optimizer's meta-learned rule and per-task state,
MAML++'s per-step batch norm, batch statistics, the regularizers' inner penalties,
a zero or a learned head init. It needs autograd at inference (``torch.func.grad``);
:mod:`autometa.deploy.tracing` turns those gradient steps into forward ops when
the predictor is exported.
"""

from __future__ import annotations

import copy
from typing import Any

from torch import Tensor, nn


class AdaptationPredictor(nn.Module):
    """Deployable predictor of a gradient learner: adapt on the support set exactly as ``predict`` does.

    ``forward(support_images [S,C,H,W], support_onehot [S,N], query_images [Q,C,H,W]) -> [Q,N]``.
    ``.backbone`` is the learner's backbone (assigning it replaces what the
    learner adapts). With a learned head init the number of ways is the training
    one (``static_ways``). Gradients reach the meta-parameters first-order, so a
    compression stage can fine-tune the predictor (first-order MAML).
    """

    def __init__(self, learner: Any):
        super().__init__()
        self.learner = copy.deepcopy(learner).eval()
        self.static_ways: int | None = learner.ways if learner.head is not None else None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "backbone":  # a new backbone (a distillation student) is what the learner must adapt
            self.learner.backbone = value
            return
        super().__setattr__(name, value)

    @property
    def backbone(self) -> nn.Module:
        return self.learner.backbone

    @property
    def adapts_backbone(self) -> bool:
        """Whether each episode's gradient steps change the backbone's weights (not ANIL's)."""
        return self.learner.adapts_body

    def backbone_shapes_fixed_by(self) -> str | None:
        """What meta-learned state is shaped like the backbone's weights (so a structured pruner
        or a new backbone would break it), or None."""
        reasons = []
        if self.learner.step_norms is not None:
            reasons.append("per_step_bn (a copy of every batch-norm layer per inner step)")
        if self.learner.adapts_body and self.learner.inner_optimizer.state_per_weight:
            reasons.append(
                f"inner_optimizer {self.learner.inner_optimizer.name} ({self.learner.inner_optimizer.state_per_weight})"
            )
        return " and ".join(reasons) or None

    def describe(self) -> str:
        learner = self.learner
        adapted = "the whole network (backbone and head)" if learner.adapts_body else "the linear head"
        head = f"a learned {learner.ways}-way head init" if self.static_ways else "a zero head"
        return (
            f"adapts {adapted} on the support set with {learner.options.inner_steps} inner step(s) of "
            f"{learner.inner_optimizer.name}, from {head}, exactly as the learner's predict does"
        )

    def forward(self, support_images: Tensor, support_onehot: Tensor, query_images: Tensor) -> Tensor:
        labels = support_onehot.argmax(1)
        ways = self.static_ways or support_onehot.shape[1]
        _, query_logits = self.learner.adapt(support_images, labels, ways, first_order=True)
        return query_logits(query_images)

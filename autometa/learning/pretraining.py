"""Whole-class pretraining: the backbone learns to tell every meta-train class apart before meta-training.

The strong baselines of few-shot classification train the backbone with plain
cross-entropy over all meta-train classes, then classify a new task's queries
from its support set with the frozen features: Chen et al. (2019, "A closer look
at few-shot classification") with a linear classifier (Baseline) or a cosine
classifier with a learned scale (Baseline++), Tian et al. (2020, "Rethinking
few-shot image classification", RFS) with a linear classifier. Gidaris et al.
(2019, "Boosting few-shot visual learning with self-supervision") add the
prediction of a 0/90/180/270 degree rotation as a second loss
(``rotation_weight``). Hu et al. (2022, P>M>F) then meta-train from the
pretrained weights: the trainer runs :class:`Pretraining` for
``strategy.pretrain.steps`` steps, then the learner's episodes.

The classifier over all classes (and the rotation head) exists only here: the
checkpoint keeps it so a run resumes mid-stage, the predictor never sees it; the
learner keeps the backbone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autometa.data.augmentation import Augmentation
from autometa.data.batches import LabelledBatchSampler
from autometa.data.dataset import ImageClasses, Preprocessing
from autometa.errors import TrainingError
from autometa.learning.device import autocast
from autometa.learning.optimization import build_optimizer, build_schedule
from autometa.recipe.schema import PretrainSection

#: The learned scale a cosine classifier starts from (Baseline++ uses 10 for small backbones).
COSINE_SCALE = 10.0


class WholeClassClassifier(nn.Module):
    """Logits over all classes: ``linear`` (W f + b) or ``cosine`` (s cos(f, w_c), s learned)."""

    def __init__(self, features: int, classes: int, kind: str):
        super().__init__()
        self.kind = kind
        self.layer = nn.Linear(features, classes, bias=kind == "linear")
        if kind == "cosine":
            self.log_scale = nn.Parameter(torch.tensor(math.log(COSINE_SCALE)))

    def forward(self, features: Tensor) -> Tensor:
        if self.kind == "linear":
            return self.layer(features)
        return self.log_scale.exp() * F.normalize(features, dim=1) @ F.normalize(self.layer.weight, dim=1).T


class Pretraining:
    """The pretraining stage: its classifier, optimizer, schedule and batches, one :meth:`update` per step."""

    def __init__(
        self,
        section: PretrainSection,
        backbone: nn.Module,
        split: ImageClasses,
        *,
        preprocessing: Preprocessing,
        seed: int,
        device: torch.device,
        augment: Sequence[Augmentation] = (),
    ):
        self.section, self.backbone, self.device = section, backbone, device
        self.classifier = WholeClassClassifier(backbone.out_features, split.num_classes, section.classifier).to(device)
        self.rotation = nn.Linear(backbone.out_features, 4).to(device) if section.rotation_weight > 0 else None
        heads = [self.classifier] + ([self.rotation] if self.rotation is not None else [])
        self.parameters = [p for p in backbone.parameters() if p.requires_grad]
        self.parameters += [p for head in heads for p in head.parameters()]
        self.optimizer = build_optimizer(section.optimizer, self.parameters, section.lr, section.weight_decay)
        self.schedule = build_schedule(section.lr_schedule, self.optimizer, section.steps)
        self.sampler = LabelledBatchSampler(
            split, section.batch_size, preprocessing=preprocessing, seed=seed, device=device, augment=augment
        )

    def update(self, step: int, amp: str) -> dict[str, float]:
        """One step of cross-entropy (plus the rotation loss) over all classes; ``step`` counts from 0."""
        self.backbone.train()
        images, labels = self.sampler.sample()
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, amp):
            loss, logits = self._loss(images, labels)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, math.inf)
        if not math.isfinite(loss.item()) or not torch.isfinite(grad_norm):
            raise TrainingError(
                f"pretraining step {step + 1}: the loss or its gradient is not finite; "
                f"lower strategy.pretrain.lr ({self.section.lr})"
            )
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.schedule.step()
        accuracy = (logits.argmax(-1) == labels).float().mean().item()
        return {"loss": loss.item(), "accuracy": accuracy, "lr": lr, "grad_norm": grad_norm.item()}

    def _loss(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Class cross-entropy on the batch; with rotations, the batch is fed four times rotated and a
        4-way head predicts each copy's rotation (the class loss uses the unrotated copy)."""
        if self.rotation is None:
            logits = self.classifier(self.backbone(images).float())
            return F.cross_entropy(logits, labels), logits
        rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
        features = self.backbone(rotated).float()
        logits = self.classifier(features[: len(images)])
        turns = torch.arange(4, device=images.device).repeat_interleave(len(images))
        loss = F.cross_entropy(logits, labels) + self.section.rotation_weight * F.cross_entropy(
            self.rotation(features), turns
        )
        return loss, logits

    def state_dict(self) -> dict:
        return {
            "classifier": self.classifier.state_dict(),
            "rotation": self.rotation.state_dict() if self.rotation is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "sampler": self.sampler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.classifier.load_state_dict(state["classifier"])
        if self.rotation is not None:
            self.rotation.load_state_dict(state["rotation"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.sampler.load_state_dict(state["sampler"])

"""Batches of labelled images: meta-train images with their class labels, for whole-class pretraining.

Episodes relabel their classes ``0..N-1`` per task; whole-class pretraining
(:mod:`autometa.learning.pretraining`) needs each image's class over the whole
split instead, which :class:`ImageClasses` already holds (``labels``). A batch
is drawn without replacement, augmented and scaled by the same
:class:`~autometa.data.augmentation.TrainingImages` the episode sampler uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from autometa.data.augmentation import Augmentation, TrainingImages
from autometa.data.dataset import ImageClasses, Preprocessing


class LabelledBatchSampler:
    """Random batches ``(images [B, C, H, W], labels [B])`` of one split; labels index ``split.class_names``."""

    def __init__(
        self,
        split: ImageClasses,
        batch_size: int,
        *,
        preprocessing: Preprocessing,
        seed: int,
        device: torch.device | str = "cpu",
        augment: Sequence[Augmentation] = (),
    ):
        self.device = torch.device(device)
        self.batch_size = min(batch_size, len(split.labels))
        self.num_classes = split.num_classes
        self.labels = split.labels.to(self.device)
        self.images = TrainingImages(split.images, preprocessing, augment, self.device)
        self._generator = torch.Generator(device=self.device).manual_seed(seed)

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch of distinct images, drawn uniformly from the split."""
        keys = torch.rand(len(self.labels), generator=self._generator, device=self.device)
        indices = keys.topk(self.batch_size).indices
        return self.images(indices, self._generator), self.labels[indices]

    def state_dict(self) -> dict:
        """The random state, so a resumed run draws the same batches."""
        return {"generator": self._generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self._generator.set_state(state["generator"])

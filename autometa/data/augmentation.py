"""Augmentation: the component contract, and meta-train images as the model sees them in training.

An :class:`Augmentation` is a random, label-preserving image transform split in
two: :meth:`~Augmentation.sample` draws random *settings* (one row per image, from
a seeded generator) and :meth:`~Augmentation.apply` transforms a batch with given
settings using tensor operations only. Training draws fresh settings for every
batch; a deployed predictor can store settings drawn once and apply them to the
support set (the ``finetune`` learner's augmented support copies), which
``torch.export`` and ONNX trace like any other layer.

:class:`TrainingImages` is what the episode and batch samplers read: images are
augmented at the size they are stored (so a warp does not blur a small image),
then resized to the strategy's input size and scaled exactly as
:func:`autometa.data.episodes.to_float` prepares evaluation images.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import torch
from pydantic import Field

from autometa.components.component import Component, PluginOptions
from autometa.data.dataset import Preprocessing
from autometa.data.transforms import resize, resize_float, scale_to_input

#: Bytes: a split whose float32 copy fits in this is converted once, not at every batch.
FLOAT_COPY_LIMIT = 1 << 29


class AugmentationOptions(PluginOptions):
    """Options every augmentation shares."""

    probability: float = Field(1.0, ge=0, le=1, description="chance that an image is transformed (0 switches it off)")


class Augmentation(Component):
    """Base of augmentation plugins: a random image transform on whole batches.

    Built as ``cls(options)``. Images are float ``[M, C, H, W]`` in ``[0, 1]``
    (before the value range and normalisation are applied); the result has the
    same shape and range.
    """

    Options = AugmentationOptions

    def __init__(self, options):
        self.options = options

    @abstractmethod
    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """Random settings ``[count, P]`` (float, on ``generator``'s device), one row per image."""

    @abstractmethod
    def apply(self, images: torch.Tensor, settings: torch.Tensor) -> torch.Tensor:
        """Transform ``images [M, C, H, W]`` with ``settings [M, P]``: tensor operations only, no
        Python branching on values, so an exported predictor can apply stored settings."""

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Transform each image with probability ``options.probability`` (fresh settings per call)."""
        if self.options.probability == 0:
            return images
        changed = self.apply(images, self.sample(len(images), generator)).clamp(0, 1)
        if self.options.probability == 1:
            return changed
        keep = torch.rand(len(images), generator=generator, device=generator.device) < self.options.probability
        return torch.where(keep.view(-1, 1, 1, 1), changed, images)


def uniform(count: int, low: float, high: float, generator: torch.Generator, columns: int = 1) -> torch.Tensor:
    """``[count, columns]`` uniform samples in ``[low, high)`` on ``generator``'s device (for plugins' ``sample``)."""
    return low + (high - low) * torch.rand(count, columns, generator=generator, device=generator.device)


class TrainingImages:
    """One split's ``uint8`` images served as the model's float input, augmented when asked.

    ``preprocessing`` is the model's (its ``image_size`` may be smaller than the
    stored images: they are then augmented at the stored size and resized).
    Without augmentation the resized images are prepared once, and kept as
    floats when they fit in :data:`FLOAT_COPY_LIMIT`, so a batch is one copy.
    """

    def __init__(
        self,
        images: torch.Tensor,
        preprocessing: Preprocessing,
        augmentations: Sequence[Augmentation] = (),
        device: torch.device | str = "cpu",
    ):
        self.preprocessing = preprocessing
        self.augmentations = list(augmentations)
        self.images = images.to(device)
        if not self.augmentations:
            self.images = resize(self.images, preprocessing.image_size)
            if self.images.numel() * 4 <= FLOAT_COPY_LIMIT:
                self.images = self.prepare(self.images.float().mul_(1 / 255))

    def __call__(self, indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Images at ``indices`` (any shape) as floats ``[*indices.shape, C, H, W]``."""
        images = gather(self.images, indices.flatten())
        if not images.dtype.is_floating_point:
            images = images.float().mul_(1 / 255)
            for augmentation in self.augmentations:
                images = augmentation(images, generator)
            images = self.prepare(images)
        return images.view(*indices.shape, *images.shape[1:])

    def prepare(self, images01: torch.Tensor) -> torch.Tensor:
        """Float images in ``[0, 1]`` at any size -> the model's input (resized, scaled, normalised)."""
        return scale_to_input(resize_float(images01, self.preprocessing.image_size), self.preprocessing)


def gather(images: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``images[indices]`` as one row copy (``index_select`` is ~30x faster than advanced indexing)."""
    rows = images.view(len(images), -1).index_select(0, indices.flatten())
    return rows.view(*indices.shape, *images.shape[1:])

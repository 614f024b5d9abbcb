"""The data set contract: images with classes, split class-disjointly.

A data set plugin returns a :class:`SplitData`: three :class:`ImageClasses`
(meta-train, meta-val, meta-test) whose classes never overlap. Splits are by
alphabet or super-class where the data has one. Images are resident ``uint8``
tensors, so sampling an episode is tensor indexing, not file reading.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from autometa.components import Component


@dataclass
class ImageClasses:
    """One split: ``images[i]`` (``uint8 [C, H, W]``) belongs to class ``labels[i]``.

    ``class_names[c]`` names class ``c`` (unique across splits, e.g.
    ``"Greek/character01"``) and ``groups[c]`` its alphabet or super-class.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    groups: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class Preprocessing:
    """How raw images must be prepared for the model (recorded in the model card)."""

    channels: int
    image_size: int
    value_range: tuple[float, float] = (0.0, 1.0)
    ink: str = "dark-on-light"  # or "light-on-dark"; "n/a" for photos
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)


@dataclass
class SplitData:
    """Meta-train, meta-val and meta-test splits of one data set."""

    train: ImageClasses
    val: ImageClasses
    test: ImageClasses
    preprocessing: Preprocessing

    def split(self, name: str) -> ImageClasses:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


class Dataset(Component):
    """Base of data set plugins: built as ``cls(options)``."""

    kind: ClassVar[str] = "dataset"

    def __init__(self, options):
        self.options = options

    @abstractmethod
    def load(self, cache_dir: Path) -> SplitData:
        """Read (or render) the data and split it; raise DataError naming missing files."""

"""The data set contract: images with classes, split class-disjointly into three splits.

A data set plugin returns a :class:`SplitData`: three :class:`ImageClasses`
(meta-train, meta-val, meta-test) whose classes never overlap. Splits are by
alphabet or super-class where the data has one. Images are resident ``uint8``
tensors, so sampling an episode is tensor indexing, not file reading. The
helpers at the end (:func:`assign_groups`, :func:`split_by_group`) are for plugin
authors who deal whole groups to splits.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autometa.components.component import Component

SPLITS = ("train", "val", "test")
SPLIT_TITLES = {"train": "meta-train", "val": "meta-val", "test": "meta-test"}


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

    def images_per_class(self) -> torch.Tensor:
        """``int64 [num_classes]``: how many images each class has."""
        return torch.bincount(self.labels, minlength=self.num_classes)

    @classmethod
    def from_classes(cls, classes: Sequence[tuple[str, str, torch.Tensor]]) -> ImageClasses:
        """Stack ``(class_name, group, uint8 [n, C, H, W])`` triples into one split."""
        if not classes:
            return cls(torch.zeros(0, 1, 1, 1, dtype=torch.uint8), torch.zeros(0, dtype=torch.long), [], [])
        images = torch.cat([imgs for _, _, imgs in classes])
        labels = torch.cat([torch.full((len(imgs),), c, dtype=torch.long) for c, (_, _, imgs) in enumerate(classes)])
        return cls(images, labels, [name for name, _, _ in classes], [group for _, group, _ in classes])


@dataclass
class Preprocessing:
    """How raw images must be prepared for the model (recorded in the model card).

    A deployed model expects ``uint8`` images of ``channels x image_size x image_size``
    scaled to ``value_range`` and then, when ``mean``/``std`` are set, normalised per
    channel; :func:`autometa.data.episodes.to_float` is the one implementation.
    """

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
    warnings: list[str] = field(default_factory=list)  # what loading found suspicious (one line each)

    def split(self, name: str) -> ImageClasses:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def class_counts(self) -> dict[str, int]:
        """Classes per split, e.g. ``{"train": 964, "val": 100, "test": 659}``."""
        return {name: self.split(name).num_classes for name in SPLITS}


class Dataset(Component):
    """Base of data set plugins: built as ``cls(options)``."""


    def __init__(self, options):
        self.options = options

    @abstractmethod
    def load(self, cache_dir: Path) -> SplitData:
        """Read (or render) the data and split it; raise DataError naming missing files."""


# ------------------------------------------------------------ helpers for plugins


def assign_groups(
    group_sizes: dict[str, int], fractions: Sequence[float], seed: int
) -> dict[str, str]:
    """Assign whole groups (alphabets, super-classes) to splits, ``{group: "train"|"val"|"test"}``.

    Groups are shuffled with ``seed`` and dealt so each split gets close to its
    ``fractions`` share of the *classes* (``group_sizes[g]`` classes in group ``g``);
    every split gets at least one group when there are three or more.
    """
    groups = sorted(group_sizes)
    random.Random(seed).shuffle(groups)
    total = sum(group_sizes.values())
    targets = [f / sum(fractions) * total for f in fractions]
    assignment: dict[str, str] = {}
    filled = [0, 0, 0]
    for i, group in enumerate(groups):
        empty = [s for s in range(3) if filled[s] == 0]
        candidates = empty if len(groups) - i <= len(empty) else range(3)
        split = max(candidates, key=lambda s: targets[s] - filled[s])
        assignment[group] = SPLITS[split]
        filled[split] += group_sizes[group]
    return assignment


def split_by_group(
    classes: Sequence[tuple[str, str, torch.Tensor]], assignment: Callable[[str, str], str]
) -> tuple[ImageClasses, ImageClasses, ImageClasses]:
    """Stack ``(class_name, group, images)`` triples into the three splits.

    ``assignment(class_name, group)`` returns ``"train"``, ``"val"`` or ``"test"``.
    """
    by_split: dict[str, list] = {s: [] for s in SPLITS}
    for item in classes:
        by_split[assignment(item[0], item[1])].append(item)
    return tuple(ImageClasses.from_classes(by_split[s]) for s in SPLITS)  # type: ignore[return-value]

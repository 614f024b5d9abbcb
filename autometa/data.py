"""The data set contract: images with classes, split class-disjointly.

A data set plugin returns a :class:`SplitData`: three :class:`ImageClasses`
(meta-train, meta-val, meta-test) whose classes never overlap. Splits are by
alphabet or super-class where the data has one. Images are resident ``uint8``
tensors, so sampling an episode is tensor indexing, not file reading.

:func:`load_data` is the one entry point the rest of autometa uses: it builds the
plugin a recipe names, loads it through the cache, resizes and records the
:class:`Preprocessing` a deployed model needs. The helpers below it
(:func:`assign_groups`, :func:`split_by_group`, :func:`cached`) are for plugin authors.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch

from autometa.components import Component
from autometa.errors import DataError, PluginError
from autometa.transforms import channel_stats, resize

if TYPE_CHECKING:
    from autometa.plugins import Registry
    from autometa.recipe import DataSection

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
    channel; :func:`autometa.episodes.to_float` is the one implementation.
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

    def split(self, name: str) -> ImageClasses:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def class_counts(self) -> dict[str, int]:
        """Classes per split, e.g. ``{"train": 964, "val": 100, "test": 659}``."""
        return {name: self.split(name).num_classes for name in SPLITS}


class Dataset(Component):
    """Base of data set plugins: built as ``cls(options)``."""

    kind: ClassVar[str] = "dataset"

    def __init__(self, options):
        self.options = options

    @abstractmethod
    def load(self, cache_dir: Path) -> SplitData:
        """Read (or render) the data and split it; raise DataError naming missing files."""


# ----------------------------------------------------------------------- loading


def default_cache_dir() -> Path:
    """``$AUTOMETA_CACHE``, else ``$XDG_CACHE_HOME/autometa``, else ``~/.cache/autometa``."""
    if os.environ.get("AUTOMETA_CACHE"):
        return Path(os.environ["AUTOMETA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autometa"


def load_data(section: DataSection, *, cache_dir: Path | None = None, registry: Registry | None = None) -> SplitData:
    """Build the recipe's data set plugin, load its splits, resize and fill in preprocessing.

    ``cache_dir`` overrides the recipe's ``data.cache_dir`` and the default
    (:func:`default_cache_dir`); ``registry`` defaults to the loaded plugins'.
    """
    from autometa.plugins import get_registry

    registry = registry or get_registry()
    dataset = registry.create("dataset", section.dataset)
    cache_dir = Path(cache_dir or section.cache_dir or default_cache_dir())
    data = dataset.load(cache_dir)
    _check_disjoint(data, section.dataset.name)
    size = section.transforms.image_size
    if size is not None and size != data.preprocessing.image_size:
        data = SplitData(
            *(replace(data.split(s), images=resize(data.split(s).images, size)) for s in SPLITS),
            preprocessing=replace(data.preprocessing, image_size=size),
        )
    if section.transforms.normalize == "dataset":
        mean, std = channel_stats(data.train.images)
        data.preprocessing = replace(data.preprocessing, mean=mean, std=std)
    return data


def _check_disjoint(data: SplitData, dataset_name: str) -> None:
    seen: dict[str, str] = {}
    for split in SPLITS:
        for name in data.split(split).class_names:
            if name in seen:
                raise PluginError(
                    f"data set '{dataset_name}' put class '{name}' in both {seen[name]} and {split}; "
                    "report this to the plugin's author"
                )
            seen[name] = split


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


def cache_key(name: str, version: int, **identity) -> str:
    """A versioned cache file name, e.g. ``glyphs-v1-3f2a9c1b0d.pt``, keyed by ``identity``."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{name}-v{version}-{digest}.pt"


def cached(path: Path, build: Callable[[], SplitData]) -> SplitData:
    """Load ``path`` if present, else ``build()`` and save it there atomically."""
    if path.is_file():
        try:
            stored = torch.load(path, weights_only=True)  # plain tensors, lists and numbers only
            return SplitData(
                *(ImageClasses(**stored[s]) for s in SPLITS), preprocessing=Preprocessing(**stored["preprocessing"])
            )
        except Exception:  # a truncated or stale cache file is rebuilt, not fatal
            pass
    data = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        stored = {s: vars(data.split(s)) for s in SPLITS} | {"preprocessing": vars(data.preprocessing)}
        torch.save(stored, tmp)
        tmp.replace(path)
    except OSError as exc:
        raise DataError(f"cannot write the data cache {path} ({exc}); set data.cache_dir or $AUTOMETA_CACHE") from None
    return data

"""Episodes: N-way K-shot Q-query tasks drawn from one split, at random or fixed by a seed.

Labels are remapped per episode to ``0..N-1`` in a random order; support and
query images never overlap. A :class:`TaskBatch` stacks ``B`` episodes as
tensors ready for the trainer.

Sampling is pure tensor indexing into the split's resident ``uint8`` images (on
the training device when that is a GPU): one batch of 32 tasks is a handful of
tensor operations, not a DataLoader per episode. :func:`fixed_episodes` draws the
seeded validation and test sets every candidate of a study is scored on; it keeps
only image indices and converts an episode to floats when it is read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import torch

from autometa.data.dataset import SPLIT_TITLES, ImageClasses, Preprocessing
from autometa.data.transforms import augment as augment_images
from autometa.data.transforms import normalize
from autometa.errors import DataError
from autometa.recipe.schema import EpisodeShape


@dataclass
class Episode:
    """One task: images are float tensors ``[N*K, C, H, W]`` / ``[N*Q, C, H, W]``."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    ways: int

    def to(self, device: torch.device | str) -> Episode:
        return Episode(
            self.support_x.to(device), self.support_y.to(device),
            self.query_x.to(device), self.query_y.to(device), self.ways,
        )

    def predictor_inputs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The episode as a deployable predictor's three inputs: support images, one-hot labels, queries."""
        onehot = torch.nn.functional.one_hot(self.support_y.long(), self.ways).float()
        return self.support_x.float(), onehot, self.query_x.float()


@dataclass
class TaskBatch:
    """``B`` episodes of one shape: ``support_x [B, N*K, C, H, W]``, ``support_y [B, N*K]``, ..."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    ways: int

    def __len__(self) -> int:
        return self.support_x.shape[0]

    def episode(self, i: int) -> Episode:
        return Episode(self.support_x[i], self.support_y[i], self.query_x[i], self.query_y[i], self.ways)

    def to(self, device: torch.device | str) -> TaskBatch:
        return TaskBatch(
            self.support_x.to(device), self.support_y.to(device),
            self.query_x.to(device), self.query_y.to(device), self.ways,
        )


def to_float(images_uint8: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """The one preprocessing function: ``uint8`` images to the model's float input.

    Pixels are scaled from 0..255 to ``preprocessing.value_range``, then normalised
    by ``mean``/``std`` per channel when the recipe asked for it. A deployment
    feeding raw image files must do exactly this (the model card says so).
    """
    return _scale(images_uint8.float().mul_(1 / 255), preprocessing)


def _scale(images01: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    low, high = preprocessing.value_range
    if (low, high) != (0.0, 1.0):
        images01 = images01 * (high - low) + low
    return normalize(images01, preprocessing.mean, preprocessing.std)


def check_episode_shape(split: ImageClasses, split_name: str, shape: EpisodeShape) -> None:
    """Fail before training when ``split`` cannot supply ``shape``'s ways, shots and queries.

    Raises :class:`DataError` naming the split and the numbers.
    """
    title = SPLIT_TITLES.get(split_name, split_name)
    need = shape.shots + shape.queries
    if shape.within_group:
        _check_groups(split, title, shape, need)
    if split.num_classes < shape.ways:
        raise DataError(
            f"the {title} split has {split.num_classes} classes but the episode shape asks for "
            f"{shape.ways} ways; lower 'ways' or use a data set/split with more classes"
        )
    eligible = int((split.images_per_class() >= need).sum())
    if eligible < shape.ways:
        raise DataError(
            f"the {title} split has only {eligible} classes with at least {need} images "
            f"({shape.shots} shots + {shape.queries} queries) but the episode shape asks for "
            f"{shape.ways} ways; lower 'shots' or 'queries'"
        )


def _check_groups(split: ImageClasses, title: str, shape: EpisodeShape, need: int) -> None:
    """Within-group episodes need a group with ``ways`` classes of ``need`` images."""
    if not split.groups:
        raise DataError(
            f"the {title} split has no groups (alphabets, super-classes) but the episode shape asks for "
            "within-group episodes; set within_group: false"
        )
    eligible = split.images_per_class() >= need
    sizes = Counter(group for group, ok in zip(split.groups, eligible.tolist()) if ok)
    if not sizes or max(sizes.values()) < shape.ways:
        largest = max(sizes.items(), key=lambda item: item[1], default=("none", 0))
        raise DataError(
            f"the {title} split's largest group '{largest[0]}' has {largest[1]} classes with at least {need} "
            f"images but within-group episodes ask for {shape.ways} ways; lower 'ways' or set within_group: false"
        )


class _ClassIndex:
    """Where each class's images sit in the split, to draw episodes as index tensors."""

    def __init__(self, split: ImageClasses, need: int, device: torch.device):
        labels = split.labels.to(device)
        self.order = torch.argsort(labels, stable=True)
        counts = torch.bincount(labels, minlength=split.num_classes)
        offsets = torch.cumsum(counts, 0) - counts
        eligible = torch.nonzero(counts >= need).flatten()
        self.counts, self.offsets, self.eligible = counts[eligible], offsets[eligible], eligible
        self.max_count = int(self.counts.max()) if len(eligible) else 0
        names = {name: i for i, name in enumerate(dict.fromkeys(split.groups))}
        self.group_of = torch.tensor([names[split.groups[c]] for c in eligible.tolist()] if split.groups else [],
                                     dtype=torch.long, device=device)  # group of each eligible class

    def draw(self, shape: EpisodeShape, batch: int, generator: torch.Generator) -> torch.Tensor:
        """Image indices ``[batch, ways, shots + queries]``; row ``j`` of a task is its label ``j``."""
        device = self.order.device
        keys = torch.rand(batch, len(self.eligible), generator=generator, device=device)
        if shape.within_group:  # every other group's classes lose the draw
            keys.masked_fill_(self.group_of != self._draw_groups(shape.ways, batch, generator).unsqueeze(1), -1.0)
        classes = keys.topk(shape.ways, dim=1).indices  # a random subset in a random order
        counts = self.counts[classes]
        keys = torch.rand(batch, shape.ways, self.max_count, generator=generator, device=device)
        keys.masked_fill_(torch.arange(self.max_count, device=device) >= counts.unsqueeze(-1), -1.0)
        picks = keys.topk(shape.shots + shape.queries, dim=-1).indices  # distinct images per class
        return self.order[self.offsets[classes].unsqueeze(-1) + picks]

    def _draw_groups(self, ways: int, batch: int, generator: torch.Generator) -> torch.Tensor:
        """One group per task, uniformly among the groups with at least ``ways`` eligible classes."""
        sizes = torch.bincount(self.group_of)
        large = torch.nonzero(sizes >= ways).flatten()
        choice = torch.randint(len(large), (batch,), generator=generator, device=self.order.device)
        return large[choice]


def _gather(images: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``images[indices]`` as one row copy (``index_select`` is ~30x faster than advanced indexing)."""
    rows = images.view(len(images), -1).index_select(0, indices.flatten())
    return rows.view(*indices.shape, *images.shape[1:])


def _labels(ways: int, per_class: int, device: torch.device) -> torch.Tensor:
    return torch.arange(ways, device=device).repeat_interleave(per_class)


#: Bytes: a split whose float32 copy fits in this is converted once, not at every batch.
FLOAT_COPY_LIMIT = 1 << 29


class EpisodeSampler:
    """Draws batches of random training episodes from one split's resident images.

    The split's images are moved to ``device`` once (and, without augmentation and
    when it fits in :data:`FLOAT_COPY_LIMIT`, converted with :func:`to_float` once);
    ``sample`` then costs a few tensor operations there. ``augment`` names
    transforms from :data:`autometa.data.transforms.AUGMENTATIONS`, applied to every
    sampled image.
    """

    def __init__(
        self,
        split: ImageClasses,
        shape: EpisodeShape,
        *,
        preprocessing: Preprocessing,
        seed: int,
        device: torch.device | str = "cpu",
        augment: Sequence[str] = (),
    ):
        check_episode_shape(split, "train", shape)
        self.device = torch.device(device)
        self.shape = shape
        self.preprocessing = preprocessing
        self.augment = tuple(augment)
        self.images = split.images.to(self.device)
        if not self.augment and self.images.numel() * 4 <= FLOAT_COPY_LIMIT:
            self.images = to_float(self.images, preprocessing)  # converted once: sampling is one copy
        self._index = _ClassIndex(split, shape.shots + shape.queries, self.device)
        self._generator = torch.Generator(device=self.device).manual_seed(seed)

    def draw_indices(self, batch_size: int) -> torch.Tensor:
        """Image indices ``[batch_size, ways, shots + queries]``; row ``j`` of a task gets label ``j``.

        Random classes in a random order; a subclass may draw tasks another way.
        """
        return self._index.draw(self.shape, batch_size, self._generator)

    def sample(self, batch_size: int) -> TaskBatch:
        """``batch_size`` episodes as one :class:`TaskBatch` on the sampler's device."""
        n, k, q = self.shape.ways, self.shape.shots, self.shape.queries
        indices = self.draw_indices(batch_size).to(self.device)  # [B, N, K+Q]
        return TaskBatch(
            support_x=self._images(indices[:, :, :k].flatten(1)),
            support_y=_labels(n, k, self.device).repeat(batch_size, 1),
            query_x=self._images(indices[:, :, k:].flatten(1)),
            query_y=_labels(n, q, self.device).repeat(batch_size, 1),
            ways=n,
        )

    def _images(self, indices: torch.Tensor) -> torch.Tensor:
        images = _gather(self.images, indices)
        if images.dtype.is_floating_point:
            return images
        images = images.float().mul_(1 / 255)
        if self.augment:
            images = augment_images(images.flatten(0, 1), self.augment, self._generator).view(images.shape)
        return _scale(images, self.preprocessing)

    def state_dict(self) -> dict:
        """The random state, so a resumed training run draws the same episodes."""
        return {"generator": self._generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self._generator.set_state(state["generator"])


class FixedEpisodes(Sequence[Episode]):
    """A seeded, reproducible list of evaluation episodes (see :func:`fixed_episodes`).

    Holds image indices only; ``episodes[i]`` builds episode ``i`` as float tensors
    on the CPU, so 600 test episodes of 84x84 colour images cost no gigabytes.
    """

    def __init__(self, images: torch.Tensor, indices: torch.Tensor, shape: EpisodeShape, preprocessing: Preprocessing):
        self._images, self._indices = images, indices
        self.shape, self.preprocessing = shape, preprocessing

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, i: int) -> Episode: ...
    @overload
    def __getitem__(self, i: slice) -> list[Episode]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        k, n = self.shape.shots, self.shape.ways
        images = to_float(_gather(self._images, self._indices[i]), self.preprocessing)  # [N, K+Q, C, H, W]
        return Episode(
            support_x=images[:, :k].flatten(0, 1),
            support_y=_labels(n, k, images.device),
            query_x=images[:, k:].flatten(0, 1),
            query_y=_labels(n, self.shape.queries, images.device),
            ways=n,
        )

    def image_indices(self, i: int) -> torch.Tensor:
        """Indices into the split's images of episode ``i``, ``[ways, shots + queries]``."""
        return self._indices[i]


def fixed_episodes(
    split: ImageClasses,
    shape: EpisodeShape,
    count: int,
    *,
    seed: int,
    preprocessing: Preprocessing,
    split_name: str = "val",
) -> FixedEpisodes:
    """``count`` episodes drawn with ``seed``: identical for the same seed, different for another."""
    check_episode_shape(split, split_name, shape)
    index = _ClassIndex(split, shape.shots + shape.queries, torch.device("cpu"))
    generator = torch.Generator().manual_seed(seed)
    return FixedEpisodes(split.images, index.draw(shape, count, generator), shape, preprocessing)

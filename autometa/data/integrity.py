"""Data integrity: the same image under two labels, or in two splits, is found before any training.

A class that is an exact copy of another (the same images, byte for byte) would
make a task hold one character under two labels, and a class of meta-test that
also sits in meta-train would leak. :func:`check_integrity` hashes every image's
pixels and refuses both with one line naming the classes and the fix. Single
images shared by two classes of one split, and near-duplicates across splits
(the same average hash of the image shrunk to 16x16, a cheap perceptual hash:
the same photo re-encoded), are reported as warnings with a count and an
example pair. Near-duplicates inside one split are not: similar drawings of
different characters, or a symmetric character's rotated copy, are data, not leaks.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from autometa.data.dataset import SPLIT_TITLES, SPLITS, SplitData
from autometa.errors import DataError

#: Side of the shrunken image whose thresholded pixels form the perceptual hash.
PERCEPTUAL_SIZE = 16


@dataclass
class IntegrityReport:
    """What :func:`check_integrity` found short of an error: one line each, with counts."""

    warnings: list[str] = field(default_factory=list)


#: Where an image appears: (split, class index within the split).
_Place = tuple[str, int]


def check_integrity(data: SplitData, dataset_name: str) -> IntegrityReport:
    """Refuse exact copies of classes and any class shared by two splits; report lesser duplicates.

    Raises :class:`~autometa.errors.DataError` when a class is an exact copy of
    another class (same split: the data holds one class twice; two splits: the
    evaluation leaks) or when an image of one split appears in another.
    """
    def named(place: _Place) -> str:
        split, label = place
        return f"'{data.split(split).class_names[label]}' ({SPLIT_TITLES[split]})"

    exact = _index(data, _content_hashes)
    class_copies = _copied_classes(exact)
    if class_copies:
        first, second = class_copies[0]
        where = "one split" if first[0] == second[0] else "two splits (meta-test or meta-val would leak into training)"
        raise DataError(
            f"data set '{dataset_name}': {len(class_copies)} class(es) are exact copies of another class in {where}, "
            f"e.g. {named(second)} = {named(first)}; keep one copy of each (remove the duplicate folders or "
            "alphabets from the data set's options)"
        )
    report = IntegrityReport()
    shared = _shared_pairs(exact)
    leaking = [pair for pair in shared if pair[0][0] != pair[1][0]]
    if leaking:
        a, b = leaking[0]
        raise DataError(
            f"data set '{dataset_name}': {len(leaking)} image(s) appear in two splits, e.g. in class {named(a)} "
            f"and {named(b)}; remove the duplicates so evaluation classes are unseen in training"
        )
    if shared:
        a, b = shared[0]
        report.warnings.append(
            f"data set '{dataset_name}': {len(shared)} image(s) appear in two classes, e.g. {named(a)} and "
            f"{named(b)}; a task holding both shows one image under two labels"
        )
    near = sorted(pair for pair in _shared_pairs(_index(data, _perceptual_hashes)) if pair[0][0] != pair[1][0])
    if near:
        a, b = near[0]
        report.warnings.append(
            f"data set '{dataset_name}': {len(near)} pair(s) of images in different splits look alike "
            f"(same {PERCEPTUAL_SIZE}x{PERCEPTUAL_SIZE} average hash), e.g. in {named(a)} and {named(b)}; "
            "check them for copies that would leak"
        )
    return report


def _index(data: SplitData, hashes: Callable[[torch.Tensor], list[bytes]]) -> dict[bytes, list[_Place]]:
    """Every image by its hash: ``{hash: [where it appears]}``."""
    found: dict[bytes, list[_Place]] = defaultdict(list)
    for split in SPLITS:
        classes = data.split(split)
        for digest, label in zip(hashes(classes.images), classes.labels.tolist()):
            found[digest].append((split, label))
    return found


def _content_hashes(images: torch.Tensor) -> list[bytes]:
    """SHA-1 of each image's pixels (identical files decode to identical pixels)."""
    flat = images.reshape(len(images), -1).contiguous().numpy()
    return [hashlib.sha1(row.tobytes()).digest() for row in flat]


def _perceptual_hashes(images: torch.Tensor, chunk: int = 4096) -> list[bytes]:
    """Average hash: shrink to ``PERCEPTUAL_SIZE``, grayscale, one bit per pixel above the image's mean."""
    digests: list[bytes] = []
    for start in range(0, len(images), chunk):
        batch = images[start:start + chunk].float().mean(dim=1, keepdim=True)
        small = F.adaptive_avg_pool2d(batch, PERCEPTUAL_SIZE).flatten(1)
        bits = (small > small.mean(dim=1, keepdim=True)).numpy()
        digests += [row.tobytes() for row in bits]
    return digests


def _copied_classes(index: dict[bytes, list[_Place]]) -> list[tuple[_Place, _Place]]:
    """Pairs of classes with exactly the same set of images (the first seen, its copy)."""
    content: dict[_Place, set[bytes]] = defaultdict(set)
    for digest, places in index.items():
        for place in places:
            content[place].add(digest)
    first_by_content: dict[frozenset[bytes], _Place] = {}
    copies = []
    for place, digests in content.items():
        key = frozenset(digests)
        if key in first_by_content:
            copies.append((first_by_content[key], place))
        else:
            first_by_content[key] = place
    return copies


def _shared_pairs(index: dict[bytes, list[_Place]]) -> list[tuple[_Place, _Place]]:
    """Pairs of distinct classes holding an image with the same hash, one pair per hash."""
    pairs = []
    for places in index.values():
        distinct = list(dict.fromkeys(places))
        if len(distinct) > 1:
            pairs.append((distinct[0], distinct[1]))
    return pairs

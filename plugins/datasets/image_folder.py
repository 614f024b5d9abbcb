"""``image_folder``: any folder of class sub-folders (a user's own data).

Every folder that directly holds image files is a class, named by its path under
``root``; its parent folder (when there is one) is its group, e.g.
``root/vehicles/bus/*.jpg`` is class ``vehicles/bus`` in group ``vehicles``. Splits
come from a split file or, without one, whole groups (or classes, when the folder
is flat) are dealt to meta-train/val/test by a seeded shuffle.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Literal

import torch
import yaml
from pydantic import Field

from autometa import (
    IMAGE_EXTENSIONS,
    SPLITS,
    DataError,
    Dataset,
    Preprocessing,
    SplitData,
    assign_groups,
    cache_key,
    cached,
    decode_image,
    is_image,
    split_by_group,
    track,
)

_VERSION = 1


class ImageFolderOptions(Dataset.Options):
    root: Path = Field(description="folder whose sub-folders (at any depth) hold each class's images")
    split_file: Path | None = Field(
        None,
        description="YAML/JSON mapping train/val/test to lists of class or group folder names (relative to root)",
    )
    split_fractions: tuple[float, float, float] = Field(
        (0.6, 0.2, 0.2), description="without a split file: share of classes per split, dealt by whole groups"
    )
    seed: int = Field(0, description="seeds the split when there is no split file")
    image_size: int = Field(84, ge=8, description="images are decoded and resized to this square size")
    channels: Literal[1, 3] = Field(3, description="3 for RGB, 1 for grayscale")


class ImageFolder(Dataset):
    """Your own images: one sub-folder per class, split by parent folder or a split file."""

    name = "image_folder"
    Options = ImageFolderOptions

    def load(self, cache_dir: Path) -> SplitData:
        root = self.options.root
        if not root.is_dir():
            raise DataError(f"image_folder: {root} is not a folder; set 'root' to a folder of class sub-folders")
        files = class_files(root)
        if not files:
            raise DataError(
                f"image_folder: no images found under {root}; expected {root}/<class>/<image>.jpg "
                f"(extensions: {', '.join(e.lstrip('.') for e in IMAGE_EXTENSIONS)})"
            )
        split_of = self._split_of(files)
        stamp = sorted((name, len(paths), max(p.stat().st_mtime_ns for p in paths)) for name, paths in files.items())
        options = self.options.model_dump(mode="json")
        path = cache_dir / cache_key("image_folder", _VERSION, options=options, files=stamp)
        return cached(path, lambda: self._read(files, split_of))

    def _split_of(self, files: dict[str, list[Path]]) -> dict[str, str]:
        """``{class: split}`` from the split file, else by a seeded deal of groups."""
        if self.options.split_file is not None:
            return read_split_file(self.options.split_file, list(files))
        groups = {name: group_of(name) for name in files}
        sizes = Counter(groups.values())
        if len(sizes) < 3:  # flat folder (or too few groups): deal classes one by one
            groups = {name: name for name in files}
            sizes = dict.fromkeys(files, 1)
        by_group = assign_groups(sizes, self.options.split_fractions, self.options.seed)
        return {name: by_group[groups[name]] for name in files}

    def _read(self, files: dict[str, list[Path]], split_of: dict[str, str]) -> SplitData:
        o = self.options
        classes = [
            (name, group_of(name), torch.stack([
                decode_image(p, source=str(p), channels=o.channels, size=o.image_size) for p in paths
            ]))
            for name, paths in track(sorted(files.items()), f"image_folder: decoding {o.root}")
        ]
        train, val, test = split_by_group(classes, lambda name, _: split_of[name])
        return SplitData(train, val, test, Preprocessing(channels=o.channels, image_size=o.image_size, ink="n/a"))


def class_files(root: Path) -> dict[str, list[Path]]:
    """``{class folder relative to root: [image paths]}`` for every folder holding images."""
    files: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and is_image(path.name) and path.parent != root:
            files.setdefault(path.parent.relative_to(root).as_posix(), []).append(path)
    return files


def group_of(class_name: str) -> str:
    return class_name.rsplit("/", 1)[0]


def read_split_file(path: Path, classes: list[str]) -> dict[str, str]:
    """``{class: split}`` from a ``{train: [...], val: [...], test: [...]}`` file of class or group names."""
    if not path.is_file():
        raise DataError(f"image_folder: split file {path} not found; fix 'split_file' or remove it")
    try:
        listed = (json.loads if path.suffix == ".json" else yaml.safe_load)(path.read_text(encoding="utf-8"))
    except (ValueError, yaml.YAMLError) as exc:
        raise DataError(f"image_folder: cannot parse split file {path}: {exc}") from None
    if not isinstance(listed, dict) or set(listed) - set(SPLITS):
        raise DataError(f"image_folder: split file {path} must map train, val and test to lists of folder names")
    split_of: dict[str, str] = {}
    for split in SPLITS:
        for entry in listed.get(split) or []:
            matches = [c for c in classes if c == entry or c.startswith(f"{entry}/")]
            if not matches:
                raise DataError(f"image_folder: split file {path} lists '{entry}' ({split}) but no such class folder")
            for name in matches:
                if split_of.get(name, split) != split:
                    raise DataError(f"image_folder: split file {path} puts '{name}' in both {split_of[name]} and {split}")
                split_of[name] = split
    unlisted = [c for c in classes if c not in split_of]
    if unlisted:
        raise DataError(
            f"image_folder: split file {path} does not place {len(unlisted)} class folder(s), e.g. '{unlisted[0]}'; "
            "list every class (or its group) under train, val or test"
        )
    return split_of

"""``mini_imagenet``: Vinyals et al.'s 100 ImageNet classes with Ravi & Larochelle's split.

Expects the usual layout under ``root``: ``images/`` holding every ``.jpg`` and the
split files ``train.csv``, ``val.csv`` and ``test.csv`` (header ``filename,label``;
64/16/20 classes). ImageNet's licence forbids redistribution, so there is no
downloader: obtain the files yourself and point ``root`` at them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from pydantic import Field

from autometa import (
    SPLITS,
    DataError,
    Dataset,
    ImageClasses,
    Preprocessing,
    SplitData,
    cache_key,
    cached,
    decode_image,
    track,
)

_VERSION = 1


class MiniImageNetOptions(Dataset.Options):
    root: Path | None = Field(
        None, description="folder with images/ and train.csv, val.csv, test.csv; default: <cache_dir>/mini-imagenet"
    )
    image_size: int = Field(84, ge=8, description="images are decoded and resized to this square size")


class MiniImageNet(Dataset):
    """mini-ImageNet (64/16/20 classes, 600 images each) from images/ and the split CSVs."""

    name = "mini_imagenet"
    Options = MiniImageNetOptions

    def load(self, cache_dir: Path) -> SplitData:
        root = Path(self.options.root or cache_dir / "mini-imagenet")
        expected = [root / "images", *(root / f"{s}.csv" for s in SPLITS)]
        missing = [p for p in expected if not p.exists()]
        if missing:
            raise DataError(
                f"mini_imagenet: missing {', '.join(map(str, missing))}; expected {root}/images/*.jpg and "
                f"{root}/train.csv, val.csv, test.csv (Ravi & Larochelle split); set the dataset's 'root'"
            )
        stamp = [[str(p.resolve()), p.stat().st_mtime_ns] for p in expected]
        path = cache_dir / cache_key("mini_imagenet", _VERSION, image_size=self.options.image_size, files=stamp)
        return cached(path, lambda: self._read(root))

    def _read(self, root: Path) -> SplitData:
        splits = [ImageClasses.from_classes(self._split(root, s)) for s in SPLITS]
        return SplitData(*splits, preprocessing=Preprocessing(channels=3, image_size=self.options.image_size, ink="n/a"))

    def _split(self, root: Path, split: str) -> list[tuple[str, str, torch.Tensor]]:
        files: dict[str, list[str]] = {}
        table = root / f"{split}.csv"
        with table.open(newline="", encoding="utf-8") as f:
            rows = csv.DictReader(f)
            if rows.fieldnames is None or not {"filename", "label"} <= set(rows.fieldnames):
                raise DataError(f"mini_imagenet: {table} needs a header 'filename,label'")
            for row in rows:
                files.setdefault(row["label"], []).append(row["filename"])
        size = self.options.image_size
        classes = []
        for label, names in track(sorted(files.items()), f"mini_imagenet: decoding {split}"):
            paths = [root / "images" / name for name in names]
            absent = [p for p in paths if not p.is_file()]
            if absent:
                raise DataError(f"mini_imagenet: {table} lists {absent[0]}, which does not exist ({len(absent)} missing)")
            images = torch.stack([decode_image(p, source=str(p), channels=3, size=size) for p in paths])
            classes.append((label, label, images))
        return classes

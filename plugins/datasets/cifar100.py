"""``cifar_fs`` and ``fc100``: few-shot splits of CIFAR-100, read from torchvision's files.

Both read the python version of CIFAR-100 (``<root>/cifar-100-python/{train,test,meta}``,
as torchvision's ``CIFAR100`` downloads it), pool its 60,000 32x32 images and split
the 100 classes:

* CIFAR-FS (Bertinetto et al. 2019): 64/16/20 classes, chosen at random;
* FC100 (Oreshkin et al. 2018): by super-class, 12/4/4 super-classes (60/20/20
  classes), so test classes share no super-class with training ones.
"""

from __future__ import annotations

import pickle
from abc import abstractmethod
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from autometa import DataError, Dataset, Preprocessing, SplitData, split_by_group

FILES = ("train", "test", "meta")
#: Bertinetto et al.'s CIFAR-FS split (the classes not listed are meta-train).
CIFAR_FS_VAL = (
    "beaver", "otter", "flatfish", "shark", "lamp", "television", "beetle", "butterfly", "sea", "camel",
    "cattle", "crab", "crocodile", "maple_tree", "motorcycle", "tractor",
)
CIFAR_FS_TEST = (
    "whale", "poppy", "rose", "sweet_pepper", "telephone", "bed", "table", "wardrobe", "leopard", "plain",
    "chimpanzee", "fox", "snail", "worm", "baby", "man", "woman", "bicycle", "pickup_truck", "rocket",
)
#: Oreshkin et al.'s FC100 split by super-class (the others are meta-train).
FC100_VAL = ("large_carnivores", "large_omnivores_and_herbivores", "non-insect_invertebrates", "small_mammals")
FC100_TEST = ("aquatic_mammals", "insects", "medium_mammals", "people")


class Cifar100Options(Dataset.Options):
    root: Path | None = Field(
        None, description="folder holding cifar-100-python/ (train, test, meta); default: <cache_dir>/cifar100"
    )
    download: bool = Field(False, description="download CIFAR-100 with torchvision's downloader (needs internet)")


class _Cifar100Split(Dataset):
    Options = Cifar100Options

    def load(self, cache_dir: Path) -> SplitData:
        root = Path(self.options.root or cache_dir / "cifar100")
        images, fine, coarse, fine_names, coarse_names = read_cifar100(root, download=self.options.download)
        coarse_of = dict(zip(fine.tolist(), coarse.tolist()))  # each class has one super-class
        classes = [
            (name, coarse_names[coarse_of[c]], images[torch.from_numpy(fine == c)]) for c, name in enumerate(fine_names)
        ]
        return SplitData(
            *split_by_group(classes, self.split_of), preprocessing=Preprocessing(channels=3, image_size=32, ink="n/a")
        )

    @abstractmethod
    def split_of(self, fine_name: str, coarse_name: str) -> str:
        """``"train"``, ``"val"`` or ``"test"`` for a class and its super-class."""


class CifarFS(_Cifar100Split):
    """CIFAR-FS: CIFAR-100 with Bertinetto et al.'s 64/16/20 class split."""

    name = "cifar_fs"

    def split_of(self, fine_name: str, coarse_name: str) -> str:
        return "val" if fine_name in CIFAR_FS_VAL else "test" if fine_name in CIFAR_FS_TEST else "train"


class FC100(_Cifar100Split):
    """FC100: CIFAR-100 split by super-class (Oreshkin et al.), 60/20/20 classes."""

    name = "fc100"

    def split_of(self, fine_name: str, coarse_name: str) -> str:
        return "val" if coarse_name in FC100_VAL else "test" if coarse_name in FC100_TEST else "train"


def read_cifar100(root: Path, *, download: bool):
    """All 60,000 images ``uint8 [N, 3, 32, 32]`` with fine and coarse labels and their names."""
    folder = root / "cifar-100-python"
    if download and not all((folder / f).is_file() for f in FILES):
        from torchvision.datasets import CIFAR100

        try:
            CIFAR100(str(root), download=True)
        except (OSError, RuntimeError) as exc:
            raise DataError(
                f"cannot download CIFAR-100 into {root} ({type(exc).__name__}: {exc}); without internet, "
                f"extract cifar-100-python.tar.gz there"
            ) from None
    missing = [str(folder / f) for f in FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"CIFAR-100 files missing: {', '.join(missing)}; extract cifar-100-python.tar.gz into {root} "
            "(or set the dataset's 'root', or 'download: true')"
        )
    parts = [_unpickle(folder / name) for name in ("train", "test")]
    meta = _unpickle(folder / "meta")
    data = np.concatenate([p["data"] for p in parts]).reshape(-1, 3, 32, 32)
    fine = np.concatenate([p["fine_labels"] for p in parts])
    coarse = np.concatenate([p["coarse_labels"] for p in parts])
    return torch.from_numpy(np.ascontiguousarray(data, dtype=np.uint8)), fine, coarse, meta["fine_label_names"], meta["coarse_label_names"]


def _unpickle(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return pickle.load(f, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}; re-extract cifar-100-python.tar.gz") from None

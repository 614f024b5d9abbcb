"""load_data, the plugin helpers, and the file-based plugins (image_folder, cifar_fs, fc100, mini_imagenet)."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from autometa.data import SPLITS, assign_groups, default_cache_dir, load_data
from autometa.errors import DataError
from autometa.plugins import default_host
from autometa.recipe import DataSection


def section(tmp_path: Path, name: str, transforms: dict | None = None, **options) -> DataSection:
    return DataSection(dataset={name: options}, transforms=transforms or {}, cache_dir=tmp_path / "cache")


def write_images(folder: Path, count: int, size=(20, 16), colour=True) -> None:
    """Plain images, different in every class (a class that copies another is refused on loading)."""
    import zlib

    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    shade = zlib.crc32(folder.name.encode()) % 200
    for i in range(count):
        mode, fill = ("RGB", (10 * i, shade, 200)) if colour else ("L", 10 * i + shade // 4)
        Image.new(mode, size, fill).save(folder / f"img{i}.png")


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOMETA_CACHE", str(tmp_path / "a"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("AUTOMETA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "autometa"


def test_assign_groups_deals_whole_groups_close_to_the_fractions():
    sizes = {f"group{i}": 10 + i for i in range(20)}
    assignment = assign_groups(sizes, (0.6, 0.2, 0.2), seed=0)
    assert set(assignment) == set(sizes)
    share = {s: sum(sizes[g] for g, split in assignment.items() if split == s) / sum(sizes.values()) for s in SPLITS}
    assert abs(share["train"] - 0.6) < 0.08 and abs(share["val"] - 0.2) < 0.08
    assert assign_groups(sizes, (0.6, 0.2, 0.2), seed=0) == assignment
    assert assign_groups(sizes, (0.6, 0.2, 0.2), seed=1) != assignment
    assert sorted(assign_groups({"a": 50, "b": 1, "c": 1}, (0.6, 0.2, 0.2), seed=0).values()) == ["test", "train", "val"]


def test_image_folder_groups_resize_normalise_and_cache(tmp_path):
    for group in ("animals", "plants", "rocks"):
        for c in range(2):
            write_images(tmp_path / "data" / group / f"{group}{c}", 3)
    options = dict(root=str(tmp_path / "data"), image_size=12)
    data = load_data(section(tmp_path, "image_folder", {"image_size": 8, "normalize": "dataset"}, **options), default_host().registry)
    assert sum(data.class_counts().values()) == 6 and all(data.split(s).num_classes == 2 for s in SPLITS)
    for s in SPLITS:  # whole groups per split
        assert len(set(data.split(s).groups)) == 1
    assert data.train.images.shape[1:] == (3, 8, 8) and data.preprocessing.image_size == 8
    assert len(data.preprocessing.mean) == 3 and data.preprocessing.ink == "n/a"
    assert list((tmp_path / "cache").glob("image_folder-v1-*.pt"))
    again = load_data(section(tmp_path, "image_folder", {"image_size": 8, "normalize": "dataset"}, **options), default_host().registry)
    assert torch.equal(again.val.images, data.val.images) and again.val.class_names == data.val.class_names


def test_image_folder_split_file_and_grayscale(tmp_path):
    for c in range(5):
        write_images(tmp_path / "data" / f"c{c}", 2, colour=False)
    split_file = tmp_path / "split.yaml"
    split_file.write_text("train: [c0, c1, c2]\nval: [c3]\ntest: [c4]\n")
    data = load_data(section(tmp_path, "image_folder", root=str(tmp_path / "data"), split_file=str(split_file),
                             channels=1, image_size=10), default_host().registry)
    assert data.train.class_names == ["c0", "c1", "c2"] and data.test.class_names == ["c4"]
    assert data.train.images.shape[1:] == (1, 10, 10)
    split_file.write_text("train: [c0, c1]\nval: [c3]\ntest: [c4]\n")
    with pytest.raises(DataError, match="does not place 1 class folder"):
        load_data(section(tmp_path, "image_folder", root=str(tmp_path / "data"), split_file=str(split_file)), default_host().registry)


def test_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        load_data(section(tmp_path, "image_folder", root=str(tmp_path / "nowhere")), default_host().registry)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        load_data(section(tmp_path, "image_folder", root=str(tmp_path / "empty")), default_host().registry)
    write_images(tmp_path / "data" / "a", 1)
    write_images(tmp_path / "data" / "b", 1)
    (tmp_path / "data" / "c").mkdir()
    (tmp_path / "data" / "c" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DataError, match="cannot read image .*broken.jpg"):
        load_data(section(tmp_path, "image_folder", root=str(tmp_path / "data")), default_host().registry)


def write_fake_cifar100(root: Path, per_class: int = 2) -> None:
    """A miniature cifar-100-python folder: every class, ``per_class`` images in train and in test."""
    from autometa_plugins.datasets.cifar100 import CIFAR_FS_TEST, CIFAR_FS_VAL, FC100_TEST, FC100_VAL

    coarse_names = sorted(set(FC100_TEST + FC100_VAL) | {f"super{i}" for i in range(12)})
    fine_names = sorted(set(CIFAR_FS_TEST + CIFAR_FS_VAL) | {f"class{i}" for i in range(64)})
    coarse_of = [i % 20 for i in range(100)]
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for part in ("train", "test"):
        fine = np.repeat(np.arange(100), per_class)
        data = np.repeat(fine.astype(np.uint8)[:, None], 3072, axis=1)
        with (folder / part).open("wb") as f:
            pickle.dump({"data": data, "fine_labels": fine.tolist(),
                         "coarse_labels": [coarse_of[c] for c in fine]}, f)
    with (folder / "meta").open("wb") as f:
        pickle.dump({"fine_label_names": fine_names, "coarse_label_names": coarse_names}, f)


def test_cifar_fs_and_fc100_standard_splits(tmp_path):
    write_fake_cifar100(tmp_path / "cifar")
    fs = load_data(section(tmp_path, "cifar_fs", root=str(tmp_path / "cifar")), default_host().registry)
    assert fs.class_counts() == {"train": 64, "val": 16, "test": 20}
    assert "pickup_truck" in fs.test.class_names and "otter" in fs.val.class_names
    assert fs.train.images.shape[1:] == (3, 32, 32) and (fs.train.images_per_class() == 4).all()
    label = fs.train.class_names.index("class0")
    assert (fs.train.images[fs.train.labels == label] == fs.train.images[fs.train.labels == label][0, 0, 0, 0]).all()
    fc = load_data(section(tmp_path, "fc100", root=str(tmp_path / "cifar")), default_host().registry)
    assert fc.class_counts() == {"train": 60, "val": 20, "test": 20}
    assert set(fc.test.groups) == {"aquatic_mammals", "insects", "medium_mammals", "people"}


def test_cifar_missing_files_are_listed(tmp_path):
    with pytest.raises(DataError) as error:
        load_data(section(tmp_path, "fc100", root=str(tmp_path)), default_host().registry)
    message = str(error.value)
    assert all(f"{tmp_path}/cifar-100-python/{f}" in message for f in ("train", "test", "meta"))


def test_mini_imagenet_reads_the_split_csvs(tmp_path):
    root = tmp_path / "mini"
    (root / "images").mkdir(parents=True)
    from PIL import Image

    for split, labels in (("train", ["n01", "n02"]), ("val", ["n03"]), ("test", ["n04", "n05"])):
        with (root / f"{split}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["filename", "label"])
            for label in labels:
                for i in range(3):
                    Image.new("RGB", (30, 40), (i, 40 * int(label[1:]), 0)).save(root / "images" / f"{label}{i:08d}.jpg")
                    writer.writerow([f"{label}{i:08d}.jpg", label])
    data = load_data(section(tmp_path, "mini_imagenet", root=str(root), image_size=16), default_host().registry)
    assert data.class_counts() == {"train": 2, "val": 1, "test": 2}
    assert data.test.class_names == ["n04", "n05"] and data.train.images.shape == (6, 3, 16, 16)
    (root / "images" / "n0500000002.jpg").unlink()
    with pytest.raises(DataError, match="n0500000002.jpg, which does not exist"):
        load_data(section(tmp_path, "mini_imagenet", root=str(root), image_size=17), default_host().registry)


def test_mini_imagenet_missing_files_are_listed(tmp_path):
    with pytest.raises(DataError) as error:
        load_data(section(tmp_path, "mini_imagenet", root=str(tmp_path)), default_host().registry)
    assert all(str(tmp_path / name) in str(error.value) for name in ("images", "train.csv", "val.csv", "test.csv"))


def test_cifar_download_offline_fails_with_one_clear_line(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", offline)
    with pytest.raises(DataError) as error:
        load_data(section(tmp_path, "cifar_fs", root=str(tmp_path), download=True), default_host().registry)
    assert "cannot download CIFAR-100" in str(error.value) and "\n" not in str(error.value)

"""The omniglot plugin on the real small sets (zips read in place) and on a tiny folder copy."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from autometa.data import SPLITS, fixed_episodes, load_data
from autometa.errors import DataError
from autometa.plugins import default_host
from autometa.recipe import DataSection, EpisodeShape

OMNIGLOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "omniglot"
needs_omniglot = pytest.mark.skipif(
    not (OMNIGLOT / "images_background_small1.zip").is_file(), reason="Omniglot small sets not present"
)


def omniglot(tmp_path: Path, **options) -> DataSection:
    return DataSection(dataset={"omniglot": options}, cache_dir=tmp_path / "cache")


@pytest.fixture(scope="module")
def small_sets(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return load_data(DataSection(dataset={"omniglot": {"root": str(OMNIGLOT)}}, cache_dir=cache), default_host().registry)


@needs_omniglot
def test_small_sets_split_by_alphabet_without_shared_classes(small_sets):
    data = small_sets
    names = [set(data.split(s).class_names) for s in SPLITS]
    assert not names[0] & names[1] and not names[0] & names[2] and not names[1] & names[2]
    groups = [set(data.split(s).groups) for s in SPLITS]
    assert groups[1] == {"Japanese_(katakana)"} and groups[2] == {"Sanskrit", "Tagalog"}
    assert not groups[0] & (groups[1] | groups[2])
    assert data.class_counts() == {"train": 136, "val": 47, "test": 42 + 17}  # small1 alone: its Greek and Latin once
    assert data.train.images.shape[1:] == (1, 28, 28) and data.train.images.dtype == torch.uint8
    assert (data.train.images_per_class() == 20).all()
    assert data.preprocessing.ink == "dark-on-light"
    assert data.train.images.float().mean() > 200  # mostly white paper


@needs_omniglot
def test_fixed_val_episodes_are_disjoint_relabelled_and_seeded(small_sets):
    data, shape = small_sets, EpisodeShape(ways=5, shots=1, queries=15)
    episodes = fixed_episodes(data.val, shape, 30, seed=0, preprocessing=data.preprocessing)
    for i in range(len(episodes)):
        indices = episodes.image_indices(i)
        support, query = set(indices[:, :1].flatten().tolist()), set(indices[:, 1:].flatten().tolist())
        assert not support & query
        classes = data.val.labels[indices]
        assert (classes == classes[:, :1]).all() and len(set(classes[:, 0].tolist())) == 5
    assert episodes[0].support_y.tolist() == [0, 1, 2, 3, 4] and episodes[0].query_x.shape == (75, 1, 28, 28)
    again = fixed_episodes(data.val, shape, 30, seed=0, preprocessing=data.preprocessing)
    other = fixed_episodes(data.val, shape, 30, seed=1, preprocessing=data.preprocessing)
    assert torch.equal(episodes[3].query_x, again[3].query_x)
    assert all(torch.equal(episodes.image_indices(i), again.image_indices(i)) for i in range(30))
    assert not all(torch.equal(episodes.image_indices(i), other.image_indices(i)) for i in range(30))


@needs_omniglot
def test_too_many_ways_for_the_val_split_fails_before_training(small_sets):
    with pytest.raises(DataError, match=r"meta-val split has 47 classes .* 60 ways"):
        fixed_episodes(small_sets.val, EpisodeShape(ways=60), 10, seed=0, preprocessing=small_sets.preprocessing)


@needs_omniglot
def test_unknown_alphabet_and_alphabet_in_two_splits_are_named(tmp_path):
    bad = omniglot(tmp_path, root=str(OMNIGLOT), val=["images_background_small2/Klingon"])
    with pytest.raises(DataError, match="no alphabet 'Klingon' in images_background_small2"):
        load_data(bad, default_host().registry)
    twice = omniglot(tmp_path, root=str(OMNIGLOT), val=["images_background_small2/Sanskrit"])
    with pytest.raises(DataError, match="Sanskrit is in both"):
        load_data(twice, default_host().registry)


def test_missing_set_says_which_files_are_expected(tmp_path):
    with pytest.raises(DataError) as error:
        load_data(omniglot(tmp_path, root=str(tmp_path)), default_host().registry)
    message = str(error.value)
    assert f"{tmp_path}/images_background_small1/" in message and "images_background_small1.zip" in message


def write_tiny_set(root: Path, drawings: int = 3) -> None:
    """images_background/<2 alphabets>/<2 characters>/*.png, plus images_evaluation/<1 alphabet>."""
    from PIL import Image

    alphabets = (("images_background", "Alpha"), ("images_background", "Beta"), ("images_evaluation", "Gamma"))
    for a, (set_name, alphabet) in enumerate(alphabets):  # every alphabet draws differently: no copies
        for c in range(2):
            folder = root / set_name / alphabet / f"character{c + 1:02d}"
            folder.mkdir(parents=True)
            for d in range(drawings):
                image = Image.new("L", (105, 105), 255)
                image.paste(0, (10 * d + 3 * a, 10 * c, 10 * d + 30, 10 * c + 60 - 5 * a))
                image.save(folder / f"{c}_{d}.png")


def test_folders_rotations_and_zip_give_the_same_classes(tmp_path):
    write_tiny_set(tmp_path / "data")
    splits = dict(train=["images_background/Alpha"], val=["images_background/Beta"], test=["images_evaluation"])
    plain = load_data(omniglot(tmp_path, root=str(tmp_path / "data"), **splits), default_host().registry)
    rotated = load_data(omniglot(tmp_path, root=str(tmp_path / "data"), rotations=True, **splits), default_host().registry)
    assert plain.class_counts() == {"train": 2, "val": 2, "test": 2}
    assert rotated.class_counts() == {"train": 8, "val": 8, "test": 8}
    assert "images_background/Alpha/character01/rot90" in rotated.train.class_names
    first = rotated.train.images[rotated.train.labels == 0]
    quarter = rotated.train.images[rotated.train.labels == 1]
    assert torch.equal(torch.rot90(first, 1, dims=(2, 3)), quarter)

    zipped = tmp_path / "zipped"
    zipped.mkdir()
    for set_name in ("images_background", "images_evaluation"):
        with zipfile.ZipFile(zipped / f"{set_name}.zip", "w") as archive:
            for file in sorted((tmp_path / "data" / set_name).rglob("*.png")):
                archive.write(file, file.relative_to(tmp_path / "data").as_posix())
    from_zip = load_data(omniglot(tmp_path, root=str(zipped), **splits), default_host().registry)
    assert from_zip.train.class_names == plain.train.class_names
    assert torch.equal(from_zip.test.images, plain.test.images)


def test_unreadable_image_is_reported_with_its_path(tmp_path):
    write_tiny_set(tmp_path / "data")
    broken = tmp_path / "data" / "images_evaluation" / "Gamma" / "character02" / "1_1.png"
    broken.write_bytes(b"not a png")
    section = omniglot(tmp_path, root=str(tmp_path / "data"), train=["images_background"], val=[],
                       test=["images_evaluation"])
    with pytest.raises(DataError, match=f"cannot read image {broken}"):
        load_data(section, default_host().registry)


def test_download_offline_fails_with_one_clear_line(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(tv_utils, "download_url", offline)
    with pytest.raises(DataError) as error:
        load_data(omniglot(tmp_path, root=str(tmp_path), download=True), default_host().registry)
    message = str(error.value)
    assert "cannot download omniglot set 'images_background_small1'" in message and "\n" not in message
    assert "images_background_small1.zip" in message


@needs_omniglot
def test_the_old_default_split_with_small2s_copies_of_greek_and_latin_is_refused(tmp_path):
    twice = omniglot(tmp_path, root=str(OMNIGLOT), train=[
        "images_background_small1", "images_background_small2/Greek", "images_background_small2/Latin",
    ])
    with pytest.raises(DataError) as error:
        load_data(twice, default_host().registry)
    message = str(error.value)
    assert "50 class(es) are exact copies of another class in one split" in message and "\n" not in message
    assert "images_background_small2/Greek/character01" in message and "images_background_small1/Greek" in message

"""Loading refuses classes that are copies of others and images shared by two splits, and warns of lesser
duplicates (a small image-folder data set, built here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from autometa.cli import app
from autometa.data import load_data
from autometa.errors import DataError
from autometa.plugins import default_host
from autometa.recipe import DataSection

ROOT = Path(__file__).resolve().parents[1]


def write_classes(root: Path, classes: dict[str, int]) -> None:
    """``root/<group>/<class>/<i>.png``: each class a distinct pattern, each image a distinct variant."""
    from PIL import Image

    for number, (name, images) in enumerate(classes.items()):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(images):
            image = Image.new("L", (16, 16), 255)
            image.paste(0, (number % 8 * 2, number // 8 * 2, number % 8 * 2 + 3 + i, number // 8 * 2 + 8))
            image.save(folder / f"{i}.png")


def folder_data(tmp_path: Path, splits: dict[str, list[str]]):
    split_file = tmp_path / "splits.yaml"
    split_file.write_text(yaml.safe_dump(splits))
    section = DataSection(
        dataset={"image_folder": {"root": str(tmp_path / "data"), "split_file": str(split_file),
                                  "channels": 1, "image_size": 16}},
        cache_dir=tmp_path / "cache",
    )
    return load_data(section, default_host().registry)


SPLITS = {"train": ["a"], "val": ["b"], "test": ["c"]}


def test_a_clean_data_set_loads_without_warnings(tmp_path):
    write_classes(tmp_path / "data", {f"{g}/{g}{i}": 4 for g in "abc" for i in range(3)})
    assert folder_data(tmp_path, SPLITS).warnings == []


def test_a_class_copied_within_a_split_is_refused_naming_both(tmp_path):
    write_classes(tmp_path / "data", {f"{g}/{g}{i}": 4 for g in "abc" for i in range(3)})
    shutil.copytree(tmp_path / "data" / "a" / "a0", tmp_path / "data" / "a" / "copy_of_a0")
    with pytest.raises(DataError) as error:
        folder_data(tmp_path, SPLITS)
    message = str(error.value)
    assert "1 class(es) are exact copies of another class in one split" in message
    assert "'a/a0' (meta-train)" in message and "'a/copy_of_a0' (meta-train)" in message and "\n" not in message


def test_a_class_leaking_into_another_split_is_an_error(tmp_path):
    write_classes(tmp_path / "data", {f"{g}/{g}{i}": 4 for g in "abc" for i in range(3)})
    shutil.copytree(tmp_path / "data" / "a" / "a1", tmp_path / "data" / "c" / "also_a1")
    with pytest.raises(DataError, match=r"exact copies of another class in two splits .* 'c/also_a1' \(meta-test\)"):
        folder_data(tmp_path, SPLITS)


def test_one_image_in_two_splits_is_leakage(tmp_path):
    write_classes(tmp_path / "data", {f"{g}/{g}{i}": 4 for g in "abc" for i in range(3)})
    shutil.copyfile(tmp_path / "data" / "a" / "a2" / "0.png", tmp_path / "data" / "b" / "b0" / "extra.png")
    with pytest.raises(DataError, match=r"1 image\(s\) appear in two splits, e.g. in class 'a/a2' \(meta-train\)"):
        folder_data(tmp_path, SPLITS)


def test_an_image_shared_by_two_classes_of_one_split_is_a_warning_with_a_count(tmp_path):
    write_classes(tmp_path / "data", {f"{g}/{g}{i}": 4 for g in "abc" for i in range(3)})
    for name in ("0.png", "1.png"):
        shutil.copyfile(tmp_path / "data" / "a" / "a0" / name, tmp_path / "data" / "a" / "a1" / f"dup_{name}")
    (warning,) = folder_data(tmp_path, SPLITS).warnings
    assert warning.startswith("data set 'image_folder': 2 image(s) appear in two classes, e.g. 'a/a0' (meta-train)")


def test_near_duplicates_are_reported(tmp_path):
    from PIL import Image

    write_classes(tmp_path / "data", {f"{g}/{g}{i}": 4 for g in "abc" for i in range(3)})
    original = Image.open(tmp_path / "data" / "a" / "a0" / "0.png")
    original.point(lambda v: max(v - 3, 0)).save(tmp_path / "data" / "c" / "c1" / "darker.png")  # not byte-equal
    (warning,) = folder_data(tmp_path, SPLITS).warnings
    assert "1 pair(s) of images in different splits look alike" in warning and "'a/a0' (meta-train)" in warning


def test_validate_shows_warnings_and_refuses_copies_with_one_line(tmp_path):
    write_classes(tmp_path / "data", {f"{g}/{g}{i}": 4 for g in "abc" for i in range(3)})
    shutil.copytree(tmp_path / "data" / "b" / "b0", tmp_path / "data" / "b" / "b0_again")
    (tmp_path / "splits.yaml").write_text(yaml.safe_dump(SPLITS))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "dup", "data": {"dataset": {"image_folder": {
            "root": str(tmp_path / "data"), "split_file": str(tmp_path / "splits.yaml"), "channels": 1,
            "image_size": 16}}, "cache_dir": str(tmp_path / "cache")},
        "evaluation": {"ways": 2, "queries": 2}, "strategy": {"learner": "protonet"},
    }))
    result = CliRunner().invoke(app, ["recipe", "validate", str(recipe)])
    assert isinstance(result.exception, DataError) and "'b/b0_again' (meta-val) = 'b/b0' (meta-val)" in str(
        result.exception
    )


OMNIGLOT = ROOT / ".." / "shared" / "datasets" / "omniglot"


@pytest.mark.skipif(not (OMNIGLOT / "images_background_small1.zip").is_file(), reason="Omniglot small sets not present")
def test_the_omniglot_recipe_validates_without_duplicate_classes(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the recipe names ../shared/datasets/omniglot relative to the project
    monkeypatch.setenv("AUTOMETA_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["recipe", "validate", "recipes/omniglot.yaml"])
    assert result.exit_code == 0, result.output
    assert "recipes/omniglot.yaml: ok" in result.stdout and "warning" not in result.output

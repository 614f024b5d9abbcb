"""Refit (``export.refit``): the winner is retrained on meta-train + meta-val, and that model ships."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from autometa.authoring import testing
from autometa.data import ImageClasses, Preprocessing, SplitData
from autometa.deploy import compress_run
from autometa.errors import AutometaError
from autometa.plugins import default_host
from autometa.search import run_search
from autometa.search.refit import with_val_in_train


def classes(prefix: str, count: int, per_class: int = 2) -> ImageClasses:
    return ImageClasses.from_classes(
        [(f"{prefix}{c}", prefix, torch.full((per_class, 1, 4, 4), c, dtype=torch.uint8)) for c in range(count)]
    )


def test_the_refit_training_split_holds_the_validation_classes_with_their_own_labels():
    data = SplitData(classes("train", 3), classes("val", 2), classes("test", 2), Preprocessing(channels=1, image_size=4))
    joined = with_val_in_train(data)
    assert joined.train.class_names == ["train0", "train1", "train2", "val0", "val1"]
    assert joined.train.groups == ["train"] * 3 + ["val"] * 2
    assert joined.train.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert torch.equal(joined.train.images[joined.train.labels == 4], data.val.images[data.val.labels == 1])
    assert joined.val is data.val and joined.test is data.test  # scored on the same untouched episodes


@pytest.fixture
def testing_plugin():
    default_host().register(testing, testing.TESTING_PLUGIN, "autometa (testing)")
    yield
    default_host().unregister(testing.TESTING_PLUGIN)


def write(tmp_path, refit: bool):
    recipe = testing.tiny_recipe(trials=2)
    recipe["strategy"]["pretrain"] = {"steps": 2, "batch_size": 8}
    recipe["strategy"]["outer_lr"] = {"choice": [0.001, 0.01]}
    recipe["output_dir"] = str(tmp_path / "runs")
    recipe["data"]["cache_dir"] = str(tmp_path / "cache")
    recipe["export"] = {"formats": ["torch_export"], "refit": refit}
    path = tmp_path / "refit.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def test_the_shipped_model_is_the_refit_one_and_it_learned_the_validation_classes(tmp_path, testing_plugin):
    summary = run_search(write(tmp_path, refit=True), default_host(), storage=None, workers=1, quiet=True, as_json=False)
    run_dir = tmp_path / "runs" / "tiny"
    winner = torch.load(run_dir / "best" / "checkpoint.pt", weights_only=False)
    refit = torch.load(run_dir / "best" / "refit.pt", weights_only=False)
    assert refit["strategy"] == winner["strategy"] and refit["step"] == winner["step"]
    # the whole-class classifier of pretraining had one row per class it trained on: 8 train (+ 4 val)
    assert winner["pretraining"]["classifier"]["layer.weight"].shape[0] == 8
    assert refit["pretraining"]["classifier"]["layer.weight"].shape[0] == 12
    assert (run_dir / "refit" / str(summary.best[0]) / "checkpoint.pt").is_file()

    card = json.loads((run_dir / "artifacts" / "model_card.json").read_text())
    assert card["refit"] is True
    assert "trained again on meta-train + meta-val" in (run_dir / "artifacts" / "model_card.md").read_text()
    stamp = (run_dir / "artifacts" / "source.sha256").read_text()
    (run_dir / "best" / "refit.pt").unlink()
    with pytest.raises(AutometaError, match="export.refit is set but the winner was not refit"):
        compress_run(run_dir, default_host().registry)
    assert (run_dir / "artifacts" / "source.sha256").read_text() == stamp  # nothing lost


def test_without_refit_the_winner_ships_as_trained(tmp_path, testing_plugin):
    run_search(write(tmp_path, refit=False), default_host(), storage=None, workers=1, quiet=True, as_json=False)
    run_dir = tmp_path / "runs" / "tiny"
    assert not (run_dir / "best" / "refit.pt").exists() and not (run_dir / "refit").exists()
    assert json.loads((run_dir / "artifacts" / "model_card.json").read_text())["refit"] is False

"""The levers of issue 17 in one search: input size, augmentation, pretraining and the deploy-time fit are
chosen per candidate, and the exported predictor and its model card follow the winner's input size."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from autometa.authoring import testing
from autometa.deploy import evaluate_artifact, load_artifact
from autometa.plugins import default_host
from autometa.search import run_search


@pytest.fixture
def testing_plugin():
    default_host().register(testing, testing.TESTING_PLUGIN, "autometa (testing)")
    yield
    default_host().unregister(testing.TESTING_PLUGIN)


def write(tmp_path, strategy: dict, trials: int, formats: list[str]):
    recipe = testing.tiny_recipe(trials=trials)
    recipe["strategy"].update(strategy)
    recipe["training"] = {"meta_steps": 2, "eval_every": 2, "checkpoint_every": 2}
    recipe["output_dir"] = str(tmp_path / "runs")
    recipe["data"]["cache_dir"] = str(tmp_path / "cache")
    recipe["export"] = {"formats": formats}
    path = tmp_path / "levers.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def test_size_augmentation_pretraining_and_fit_are_searched_and_the_artifact_follows_the_size(tmp_path, testing_plugin):
    strategy = {
        "learner": {"finetune": {"steps": 2, "views": 1}},
        "image_size": {"choice": [8, 12]},
        "augment": {"choice": [[], ["affine"], ["affine", "elastic"]]},
        "pretrain": {"steps": 2, "batch_size": 8, "classifier": {"choice": ["linear", "cosine"]}},
    }
    path = write(tmp_path, strategy, trials=3, formats=["torch_export", "onnx"])
    summary = run_search(path, default_host(), storage=None, workers=1, quiet=True, as_json=False)
    assert [t.state for t in summary.trials] == ["complete"] * 3, [t.reason for t in summary.trials]
    assert all({"image_size", "augment", "pretrain.classifier"} <= set(t.params) for t in summary.trials)

    run_dir = tmp_path / "runs" / "tiny"
    best = yaml.safe_load((run_dir / "best" / "strategy.yaml").read_text())
    size = best["strategy"]["image_size"]
    card = json.loads((run_dir / "artifacts" / "model_card.json").read_text())
    assert card["preprocessing"]["image_size"] == size  # the data set's images are 16 px
    assert {a["format"] for a in card["artifacts"]} == {"torch_export", "onnx"}  # both verified at that size

    predictor = load_artifact(run_dir / "artifacts" / "predictor.pt2", default_host().registry)
    support = torch.rand(4, 1, size, size)
    onehot = torch.eye(2).repeat(2, 1)
    assert predictor(support, onehot, torch.rand(3, 1, size, size)).shape == (3, 2)
    result = evaluate_artifact(run_dir / "artifacts" / "predictor.onnx", path, default_host().registry)
    assert result.n == 4 and 0 <= result.mean <= 1


def test_a_choice_among_augmentation_lists_is_one_parameter_stored_as_json(tmp_path, testing_plugin):
    strategy = {"image_size": 8, "augment": {"choice": [["flip"], [{"crop": {"fraction": 0.25}}]]}}
    path = write(tmp_path, strategy, trials=1, formats=[])
    summary = run_search(path, default_host(), storage=None, workers=1, quiet=True, as_json=False)
    (trial,) = summary.trials
    assert trial.state == "complete"
    assert trial.params["augment"] in ('["flip"]', '[{"crop": {"fraction": 0.25}}]')  # lists stored as JSON text
    assert "image_size" not in trial.params  # a fixed value is not a search dimension


def test_the_levers_guide_recipe_is_valid():
    from pathlib import Path

    from autometa.recipe import parse_recipe

    guide = (Path(__file__).parents[1] / "docs" / "levers.md").read_text()
    block = guide.split("```yaml\n", 1)[1].split("```", 1)[0]
    recipe = parse_recipe(block, default_host().registry, "docs/levers.md")
    assert recipe.evaluation.within_group and recipe.training.meta_steps == 1000


def test_the_omniglot_20way_recipe_searches_the_levers_within_a_time_budget():
    from pathlib import Path

    from autometa.recipe import load_recipe

    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / "omniglot-20way.yaml", default_host().registry)
    assert (recipe.evaluation.ways, recipe.evaluation.shots, recipe.evaluation.within_group) == (20, 1, True)
    assert recipe.search.timeout_minutes and recipe.search.timeout_minutes <= 45 and recipe.export.refit
    searched = recipe.strategy
    assert {"protonet", "finetune"} <= set(searched["learner"]["choice"])
    assert 0 in searched["pretrain"]["steps"]["choice"]  # ProtoNet as today stays a candidate
    assert searched["augment"]["choice"][0] == [] and ["affine", "elastic"] in searched["augment"]["choice"]

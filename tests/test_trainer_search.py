"""`autometa train` re-trains the winner a search writes to best/strategy.yaml."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from autometa.authoring import testing
from autometa.cli import app
from autometa.plugins import default_host
from autometa.recipe import Recipe
from autometa.search import RunDirectory


class LastChoice:
    """A suggester (as an Optuna trial would be) that always takes the last candidate or the upper bound."""

    def suggest_categorical(self, name, choices):
        return choices[-1]

    def suggest_int(self, name, low, high, step=1, log=False):
        return high

    def suggest_float(self, name, low, high, *, log=False):
        return high


@pytest.fixture
def tiny_patterns():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on a shared CPU: threads only add overhead
    default_host().register(testing, testing.TESTING_PLUGIN)
    yield
    default_host().unregister(testing.TESTING_PLUGIN)
    torch.set_num_threads(threads)


def test_train_reproduces_the_best_strategy_of_a_search(tmp_path, tiny_patterns):
    space = testing.tiny_recipe()
    space["output_dir"] = str(tmp_path / "runs")
    space["strategy"]["outer_lr"] = {"choice": [0.001, 0.003]}
    recipe = Recipe.model_validate(space)
    strategy = recipe.strategy_for(LastChoice())
    best = RunDirectory.for_recipe(recipe).write_best(recipe, strategy, None)

    result = CliRunner().invoke(app, ["train", str(best)])
    assert result.exit_code == 0, result.output
    assert "validation accuracy:" in result.output and "test accuracy:" in result.output
    workdir = tmp_path / "runs" / "tiny-best" / "train"
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["test"]["n"] == 4
    checkpoint = torch.load(workdir / "checkpoint.pt", weights_only=True)
    assert checkpoint["strategy"]["outer_lr"] == 0.003

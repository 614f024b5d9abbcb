"""Recipe loading: structure, search-space syntax, plugin options, one-line errors with lines."""

from __future__ import annotations

import re

import pytest
import yaml
from pydantic import Field

from autometa import hookimpl
from autometa.components import PluginOptions
from autometa.errors import RecipeError
from autometa.plugins import DISABLE_AUTOLOAD_ENV, default_host
from autometa.recipe import BoundedLoader, FixedSuggester, Strategy, load_recipe, parse_recipe


class _ToyOptions(PluginOptions):
    inner_steps: int = Field(1, ge=0)
    inner_lr: float = Field(0.1, gt=0)


class _ToyLearner:
    """A toy learner with options."""

    kind = "learner"
    name = "toy_learner"
    Options = _ToyOptions

    @classmethod
    def summary(cls) -> str:
        return "A toy learner with options."


class _ToyBackbone:
    """A toy backbone."""

    kind = "backbone"
    name = "conv4"

    class Options(PluginOptions):
        width: int = Field(64, ge=1)


class _ToyDataset:
    """A toy data set."""

    kind = "dataset"
    name = "toy_data"

    class Options(PluginOptions):
        classes: int = 10


class _ToyPlugin:
    @hookimpl
    def register_learners(self):
        return [_ToyLearner]

    @hookimpl
    def register_backbones(self):
        return [_ToyBackbone]

    @hookimpl
    def register_datasets(self):
        return [_ToyDataset]


@pytest.fixture(autouse=True)
def toy_plugin(monkeypatch):
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    default_host().reset()
    default_host().register(_ToyPlugin(), "toy")
    yield
    default_host().reset()


GOOD = """\
name: demo
seed: 3
data:
  dataset: {toy_data: {classes: 12}}
strategy:
  learner:
    choice:
      toy_learner:
        inner_steps: {int: [1, 5]}
        inner_lr: {log_uniform: [0.01, 1.0]}
  backbone: {conv4: {width: {choice: [32, 64]}}}
  outer_lr: {log_uniform: [0.0001, 0.01]}
  train_episodes: {ways: {choice: [5, 10]}, shots: 1, queries: 5}
"""


def test_good_recipe_validates_and_resolves():
    recipe = parse_recipe(GOOD, default_host().registry, "good.yaml")
    assert recipe.seed == 3 and recipe.training.meta_steps == 500  # defaults filled in
    params = {
        "learner": "toy_learner",
        "learner.toy_learner.inner_steps": 4,
        "learner.toy_learner.inner_lr": 0.3,
        "backbone.conv4.width": 64,
        "outer_lr": 0.002,
        "train_episodes.ways": 10,
    }
    strategy = recipe.strategy_for(FixedSuggester(params))
    assert isinstance(strategy, Strategy)
    assert strategy.learner.name == "toy_learner"
    assert strategy.learner.options == {"inner_steps": 4, "inner_lr": 0.3}
    assert strategy.backbone.options == {"width": 64}
    assert strategy.train_episodes.ways == 10


def test_exponent_notation_is_a_number_even_without_a_decimal_point():
    """YAML 1.1 (PyYAML's default) reads 1e-4 as a string, which broke search ranges."""
    recipe = parse_recipe(GOOD.replace("[0.0001, 0.01]", "[1e-4, 1E-2]"), default_host().registry, "good.yaml")
    assert recipe.strategy["outer_lr"] == {"log_uniform": [0.0001, 0.01]}
    values = yaml.load("a: -2.5E+3\nb: 1e5\nc: '1e-4'\nd: e5\ne: 7", Loader=BoundedLoader)
    assert values == {"a": -2500.0, "b": 100000.0, "c": "1e-4", "d": "e5", "e": 7}


def test_fixed_strategy_refuses_a_search_space():
    with pytest.raises(RecipeError, match="search space"):
        parse_recipe(GOOD, default_host().registry).fixed_strategy()


def _error(text: str) -> str:
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, default_host().registry, "bad.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # typo in a top-level key, with a suggestion and the line
        ("seed: 3", "sead: 3", r"bad.yaml:2: sead: unknown key 'sead'; did you mean 'seed'\?"),
        # typo in a nested key
        ("outer_lr:", "outer_rl:", r"bad.yaml:12: strategy.outer_rl: unknown key 'outer_rl'; did you mean 'outer_lr'\?"),
        # wrong type
        ("seed: 3", "seed: three", r"bad.yaml:2: seed: .*integer"),
        # unknown plugin name, with a suggestion
        ("toy_learner:", "toy_lerner:", r"bad.yaml:6: strategy.learner: unknown learner 'toy_lerner'; did you mean 'toy_learner'\?"),
        # search range with low > high
        ("[0.0001, 0.01]", "[0.01, 0.0001]", r"bad.yaml:12: strategy.outer_lr: search range low 0.01 is greater than high 0.0001"),
        # negative step count inside a plugin's options
        ("{int: [1, 5]}", "-2", r"bad.yaml:9: strategy.learner.toy_learner.inner_steps: .*greater than or equal to 0"),
        # plugin option typo
        ("inner_lr:", "iner_lr:", r"bad.yaml:10: strategy.learner.toy_learner.iner_lr: unknown key 'iner_lr'; did you mean 'inner_lr'\?"),
        # a plugin option of the wrong type in a choice
        ("[32, 64]", "[32, wide]", r"strategy.backbone.conv4.width: .*integer"),
        # search nodes outside the strategy
        ("{classes: 12}", "{classes: {int: [5, 9]}}", r"data.dataset.toy_data.classes: search nodes are only allowed under 'strategy'"),
        # unknown data set
        ("toy_data:", "omniglott:", r"data.dataset: unknown dataset 'omniglott'"),
        # negative training budget
        ("seed: 3", "seed: 3\ntraining: {meta_steps: -5}", r"training.meta_steps: .*greater than or equal to 1"),
    ],
)
def test_malformed_recipes_give_one_line_naming_path_and_line(old, new, expected):
    assert old in GOOD
    message = _error(GOOD.replace(old, new, 1))
    assert re.search(expected, message), message


def test_missing_required_section():
    assert "strategy: required key is missing" in _error("name: x\ndata: {dataset: toy_data}\n")


def test_invalid_yaml_names_the_line():
    message = _error("name: x\ndata: [unclosed\nstrategy: {}\n")
    assert message.startswith("bad.yaml:") and "invalid YAML" in message


def test_empty_file():
    assert "the recipe is empty" in _error("")


def test_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml", default_host().registry)

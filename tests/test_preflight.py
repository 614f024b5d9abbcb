"""The export pre-flight: an un-exportable learner stops the search before any training, as one line."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest
import yaml

from autometa.authoring import testing
from autometa.data import Preprocessing
from autometa.deploy.preflight import preflight
from autometa.errors import RecipeError
from autometa.plugins import default_host
from autometa.recipe import Recipe
from autometa.recipe.space import covering_values

#: A third party's learner whose head solves a ridge regression with torch.linalg.solve (R2-D2-style):
#: torch.export takes it, ONNX has no linear solve.
RIDGE_PLUGIN = '''
import torch
from torch import nn

from autometa import EmbeddingLearner, hookimpl


class RidgeHead(nn.Module):
    def forward(self, support, onehot, query):
        gram = support @ support.transpose(-1, -2)
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        weights = support.transpose(-1, -2) @ torch.linalg.solve(gram + eye, onehot)
        return 10 * query @ weights


class Ridge(EmbeddingLearner):
    """Ridge-regression head over the support features (closed form)."""

    name = "ridge"

    def make_head(self, features):
        return RidgeHead()


@hookimpl
def register_learners():
    return [Ridge]
'''
#: The synthetic test data set, for the command line (in-process, the test helpers register it).
TINY_PATTERNS_PLUGIN = '''
from autometa import hookimpl
from autometa.authoring.testing import TinyPatterns


@hookimpl
def register_datasets():
    return [TinyPatterns]
'''


def test_an_onnx_unexportable_learner_fails_before_training_in_one_line(tmp_path):
    (tmp_path / "ridge_plugin.py").write_text(RIDGE_PLUGIN + TINY_PATTERNS_PLUGIN)
    recipe = testing.tiny_recipe({"learner": "ridge"}, name="ridge")
    recipe["output_dir"] = str(tmp_path / "runs")
    recipe["data"]["cache_dir"] = str(tmp_path / "cache")
    recipe["training"]["meta_steps"] = 200  # minutes if it trained; the pre-flight stops it first
    recipe["export"] = {"formats": ["onnx"]}
    path = tmp_path / "ridge.yaml"
    path.write_text(yaml.safe_dump(recipe))
    done = subprocess.run(
        [sys.executable, "-m", "autometa.cli", "--plugin", "ridge_plugin", "search", str(path), "--quiet"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[0].startswith("error: pre-flight: learner ridge (backbone conv4): onnx: ")
    assert "aten._linalg_solve_ex.default has no ONNX translation (opset 18)" in lines[0]
    assert "torch_export" in lines[0]  # the fix names the format that can
    assert not list((tmp_path / "runs" / "ridge" / "trials").glob("*/checkpoint.pt"))  # nothing trained


def test_a_plugin_authors_export_test_names_the_operation(tmp_path):
    plugin = types.ModuleType("ridge_plugin")
    exec(RIDGE_PLUGIN, plugin.__dict__)
    default_host().register(plugin, "ridge-plugin", "test")
    try:
        with pytest.raises(AssertionError, match=r"learner ridge .*onnx: aten\._linalg_solve_ex\.default has no ONNX"):
            testing.assert_exports(tmp_path, {"learner": "ridge"})
        testing.assert_exports(tmp_path, {"learner": "protonet"})  # passes: a format for every installed exporter
    finally:
        default_host().unregister("ridge-plugin")


def test_the_covering_strategies_take_every_choice_without_the_product():
    space = {
        "learner": {"choice": {
            "maml": {"inner_optimizer": {"choice": ["sgd", "meta_sgd", "mamlpp"]}, "inner_steps": {"int": [1, 5]}},
            "protonet": {},
        }},
        "backbone": {"choice": ["conv4", "resnet12"]},
        "outer_lr": {"log_uniform": [1e-4, 1e-2]},
    }
    values = covering_values(space)
    assert len(values) == 4  # three maml rules and protonet, not 4 x 2 backbones
    assert {v["backbone"] for v in values} == {"conv4", "resnet12"}
    assert {next(iter(v["learner"])) for v in values} == {"maml", "protonet"}
    rules = {v["learner"]["maml"]["inner_optimizer"] for v in values if "maml" in v["learner"]}
    assert rules == {"sgd", "meta_sgd", "mamlpp"}
    assert all(v["outer_lr"] == 1e-4 for v in values) and all(
        v["learner"]["maml"]["inner_steps"] == 1 for v in values if "maml" in v["learner"]
    )
    assert covering_values({"learner": "protonet"}) == [{"learner": "protonet"}]


def test_a_compression_stage_that_cannot_compress_a_learner_refuses_before_training():
    recipe = Recipe.model_validate({
        **testing.tiny_recipe({"learner": {"choice": ["protonet", "metasgd"]}}), "compression": {"pruner": "channels"},
    })
    with pytest.raises(RecipeError) as caught:
        preflight(recipe, Preprocessing(channels=1, image_size=16), default_host().registry)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("pre-flight: learner metasgd (backbone conv4): compression.pruner channels ")
    assert "meta_sgd (a learning rate per weight)" in message and "magnitude" in message  # the fix


def test_a_learner_the_formats_can_express_passes():
    learners = {  # reptile cannot be built so: its trials fail with the reason, the pre-flight leaves it to them
        "protonet": {}, "maml": {"inner_steps": 1}, "reptile": {"inner_optimizer": "meta_sgd"},
    }
    recipe = Recipe.model_validate({
        **testing.tiny_recipe({"learner": {"choice": learners}}),
        "export": {"formats": ["torch_export", "onnx"]},
    })
    notes = []
    assert preflight(recipe, Preprocessing(channels=1, image_size=16), default_host().registry, note=notes.append) == 2
    assert "export pre-flight passed: 2 strategies" in notes[-1]

"""Whole-class pretraining: it learns, it is a declared and checked stage, and meta-training continues from it (P>M>F)."""

from __future__ import annotations

import pytest
import torch
from doubles import DoublesPlugin, FlatLinear

from autometa.data import Preprocessing, load_data
from autometa.errors import RecipeError
from autometa.learning import CHECKPOINT_NAME, Pretraining, build_learner, train
from autometa.plugins import default_host
from autometa.recipe import PretrainSection, parse_recipe


@pytest.fixture(autouse=True)
def doubles():
    default_host().register(DoublesPlugin(), "pretraining-test-doubles")
    yield
    default_host().unregister("pretraining-test-doubles")


def recipe_text(pretrain: str = "{steps: 12, batch_size: 12, lr: 0.05}", meta_steps: int = 12, learner: str = "protonet"):
    """The tiny recipe; ``meta_steps`` counts both stages (12 with the default pretraining: pretraining only)."""
    return f"""\
name: pretrain
seed: 1
device: cpu
data: {{dataset: noise_blobs}}
evaluation: {{ways: 3, shots: 1, queries: 2, val_episodes: 4, test_episodes: 4}}
strategy:
  learner: {learner}
  backbone: flat_linear
  pretrain: {pretrain}
  train_episodes: {{ways: 3, shots: 1, queries: 2}}
  meta_batch_size: 2
  outer_lr: 0.01
training: {{meta_steps: {meta_steps}, eval_every: 4, checkpoint_every: 4}}
"""


def parse(text: str):
    return parse_recipe(text, default_host().registry)


def run(recipe, **kwargs):
    registry = default_host().registry
    return train(recipe, recipe.fixed_strategy(), load_data(recipe.data, registry), registry, **kwargs)


def backbone_weights(learner) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in learner.backbone.state_dict().items()}


@pytest.mark.parametrize(
    "section",
    [
        {"classifier": "linear"},  # Baseline, RFS
        {"classifier": "cosine"},  # Baseline++
        {"classifier": "cosine", "rotation_weight": 1.0},  # with rotation self-supervision
    ],
)
def test_pretraining_reduces_the_loss_on_a_toy_set(section):
    data = load_data(parse(recipe_text()).data, default_host().registry)
    torch.manual_seed(0)
    backbone = FlatLinear(FlatLinear.Options(), in_channels=1, image_size=8)
    stage = Pretraining(
        PretrainSection(steps=60, batch_size=18, lr=0.05, **section), backbone, data.train,
        preprocessing=data.preprocessing, seed=0, device=torch.device("cpu"),
    )
    metrics = [stage.update(step, "off") for step in range(60)]
    first = sum(m["loss"] for m in metrics[:5]) / 5
    last = sum(m["loss"] for m in metrics[-5:]) / 5
    assert last < 0.5 * first
    assert sum(m["accuracy"] for m in metrics[-5:]) / 5 > 0.9  # 6 classes: chance is 1/6
    assert metrics[-1]["lr"] < metrics[0]["lr"]  # the cosine schedule decays


def test_the_rotation_loss_adds_a_four_way_head_fed_four_rotated_copies():
    data = load_data(parse(recipe_text()).data, default_host().registry)
    backbone = FlatLinear(FlatLinear.Options(), in_channels=1, image_size=8)
    seen = []
    backbone.register_forward_hook(lambda module, inputs, output: seen.append(len(inputs[0])))
    stage = Pretraining(
        PretrainSection(steps=1, batch_size=10, rotation_weight=0.5), backbone, data.train,
        preprocessing=data.preprocessing, seed=0, device=torch.device("cpu"),
    )
    stage.update(0, "off")
    assert seen == [40] and stage.rotation.out_features == 4


def test_the_stage_split_is_searchable_within_the_budget_and_checked_at_parse_time():
    parse(recipe_text("{steps: {choice: [0, 6, 12]}}", meta_steps=12))  # episodic only, P>M>F, pretraining only
    parse(recipe_text("{steps: {int: [4, 12]}}", meta_steps=12))
    with pytest.raises(RecipeError, match=r"strategy.pretrain.steps: a candidate pretrains for 20 steps, more than "
                                          r"training.meta_steps \(12\)"):
        parse(recipe_text("{steps: {int: [4, 20]}}", meta_steps=12))
    with pytest.raises(RecipeError, match=r"strategy.pretrain.steps"):
        parse(recipe_text("{choice: [{steps: 5}, {steps: 13}]}", meta_steps=12))


def test_pretraining_only_trains_the_backbone_and_scores_the_deployed_head():
    recipe = parse(recipe_text())
    progress = []
    result = run(recipe, on_progress=lambda step, total, metrics: progress.append((step, total)))
    assert progress == [(step, 12) for step in range(1, 13)]
    assert result.steps == 12 and result.val.n == 4
    assert result.tasks_per_second == 0  # no episodic meta-training happened


class Stop(Exception):
    pass


def stop_at(last: int):
    def on_progress(step, total, metrics):
        if step == last:
            raise Stop  # before this step's checkpoint: the file holds step last - 1

    return on_progress


def test_meta_training_starts_from_the_pretrained_weights(tmp_path):
    """P>M>F: the weights at the first meta-step are exactly those a pretraining-only run ends with."""
    pretrained = backbone_weights(run(parse(recipe_text())).learner)
    recipe = parse(recipe_text(meta_steps=18))  # 12 pretraining steps, then 6 meta-updates
    torch.manual_seed(recipe.seed)
    initial = backbone_weights(build_learner(recipe.fixed_strategy(), Preprocessing(1, 8), default_host().registry))
    assert all(not torch.equal(initial[name], value) for name, value in pretrained.items())  # pretraining trained
    with pytest.raises(Stop):
        run(recipe, workdir=tmp_path, on_progress=stop_at(13))
    handover = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=False)
    assert handover["step"] == 12
    for name, value in pretrained.items():
        assert torch.equal(handover["learner"][f"backbone.{name}"], value), name

    finished = run(recipe, workdir=tmp_path)
    assert finished.steps == 18 and finished.tasks_per_second > 0  # timed over its 6 meta-steps only
    final = backbone_weights(finished.learner)
    assert any(not torch.equal(final[name], value) for name, value in pretrained.items())  # meta-training moved on
    scratch = backbone_weights(run(parse(recipe_text("{steps: 0}", meta_steps=18))).learner)
    assert any(not torch.equal(final[name], scratch[name]) for name in final)  # not the same as no pretraining


def test_a_run_resumed_mid_pretraining_ends_as_an_uninterrupted_one(tmp_path):
    recipe = parse(recipe_text("{steps: 10, batch_size: 12, lr: 0.05, rotation_weight: 0.5}", meta_steps=13))
    uninterrupted = backbone_weights(run(recipe).learner)
    with pytest.raises(Stop):
        run(recipe, workdir=tmp_path, on_progress=stop_at(6))  # checkpoint at step 4, inside pretraining
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=False)["step"] == 4
    resumed = backbone_weights(run(recipe, workdir=tmp_path).learner)
    for name, value in uninterrupted.items():
        assert torch.equal(resumed[name], value), name

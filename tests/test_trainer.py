"""The trainer: determinism, resume, callbacks, clipping, schedules, NaN stops, checkpoints, `autometa train`.

Everything runs on tiny in-test components (a linear backbone, a prototype
learner, a noise data set) so these tests pin the loop, not any algorithm.
"""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch
from doubles import FlatLinear, NoiseBlobs
from torch.nn import functional as F

from autometa import Regularizer, hookimpl
from autometa.components import PluginOptions
from autometa.data import Preprocessing, load_data
from autometa.errors import DataError, TrainingError
from autometa.learning import (
    CHECKPOINT_NAME,
    MetaLearner,
    StepOutput,
    build_learner,
    load_checkpoint,
    train,
    train_recipe,
)
from autometa.plugins import default_host
from autometa.recipe import parse_recipe

# ----------------------------------------------------------------- test doubles


def prototype_logits(backbone, support_x, support_y, query_x, ways):
    support, query = backbone(support_x), backbone(query_x)
    prototypes = F.one_hot(support_y, ways).float().T @ support / F.one_hot(support_y, ways).sum(0)[:, None]
    return -((query[:, None] - prototypes[None]) ** 2).sum(-1)


class Centroid(MetaLearner):
    """Nearest class mean; records the training progress it is told."""

    name = "centroid"

    class Options(PluginOptions):
        pass

    def __init__(self, options, **context):
        super().__init__(options, **context)
        self.progress: list[float] = []

    def meta_step(self, batch) -> StepOutput:
        losses, accuracies = [], []
        for i in range(len(batch)):
            ep = batch.episode(i)
            logits = prototype_logits(self.backbone, ep.support_x, ep.support_y, ep.query_x, ep.ways)
            losses.append(F.cross_entropy(logits, ep.query_y))
            accuracies.append((logits.argmax(-1) == ep.query_y).float().mean())
        loss = torch.stack(losses).mean() + self.outer_penalty()
        loss.backward()
        return StepOutput(loss=loss.item(), accuracy=torch.stack(accuracies).mean().item())

    def predict(self, episode):
        return prototype_logits(self.backbone, episode.support_x, episode.support_y, episode.query_x, episode.ways)

    def export_predictor(self):
        raise NotImplementedError("not needed by the trainer tests")

    def set_training_progress(self, fraction: float) -> None:
        self.progress.append(fraction)


class GradProbe(Regularizer):
    """Records the meta-gradient norm the optimizer is about to apply."""

    name = "grad_probe"
    seen: list[float] = []

    class Options(PluginOptions):
        pass

    def before_update(self, learner) -> None:
        GradProbe.seen.append(torch.nn.utils.get_total_norm([p.grad for p in learner.parameters()]).item())


@hookimpl
def register_datasets():
    return [NoiseBlobs]


@hookimpl
def register_backbones():
    return [FlatLinear]


@hookimpl
def register_learners():
    return [Centroid]


@hookimpl
def register_regularizers():
    return [GradProbe]


@pytest.fixture(autouse=True)
def test_plugins():
    default_host().register(sys.modules[__name__], "trainer-test-doubles")
    yield
    default_host().unregister("trainer-test-doubles")


RECIPE = """\
name: tiny
seed: 3
device: cpu
data: {dataset: noise_blobs}
evaluation: {ways: 3, shots: 1, queries: 2, val_episodes: 4, test_episodes: 5}
strategy:
  learner: centroid
  backbone: flat_linear
  train_episodes: {ways: 3, shots: 1, queries: 2}
  meta_batch_size: 2
  outer_lr: 0.01
training: {meta_steps: 6, eval_every: 3, checkpoint_every: 3}
"""


def make_recipe():
    return parse_recipe(RECIPE, default_host().registry)


def recipe_with(**overrides):
    """The tiny recipe with dotted overrides, e.g. ``strategy__outer_lr=1e30``."""
    recipe = make_recipe()
    data = recipe.model_dump()
    for key, value in overrides.items():
        section, field = key.split("__")
        data[section][field] = value
    from autometa.recipe import Recipe

    return Recipe.model_validate(data)


def run(recipe, **kwargs):
    return train(recipe, recipe.fixed_strategy(), load_data(recipe.data, default_host().registry), default_host().registry, **kwargs)


def weights(learner) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in learner.state_dict().items()}


# ------------------------------------------------------------------------ tests


def test_two_runs_with_one_seed_give_identical_weights_and_another_seed_differs():
    recipe = make_recipe()
    first, second = run(recipe), run(recipe)
    other = run(recipe.model_copy(update={"seed": 4}))
    for name, value in weights(first.learner).items():
        assert torch.equal(value, weights(second.learner)[name])
    assert not all(torch.equal(v, weights(other.learner)[k]) for k, v in weights(first.learner).items())
    assert first.val.per_episode == second.val.per_episode
    assert first.steps == 6 and first.val.n == 4 and first.tasks_per_second > 0


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    recipe = recipe_with(training__meta_steps=7)
    uninterrupted = run(recipe)

    class Interrupt(Exception):
        pass

    def stop_after_four(step, total, metrics):
        if step == 4:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(recipe, workdir=tmp_path, on_progress=stop_after_four)
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=False)["step"] == 3
    steps_seen = []
    resumed = run(recipe, workdir=tmp_path, on_progress=lambda step, total, m: steps_seen.append(step))
    assert steps_seen == [4, 5, 6, 7]
    for name, value in weights(uninterrupted.learner).items():
        assert torch.equal(value, weights(resumed.learner)[name]), name
    assert resumed.val.per_episode == uninterrupted.val.per_episode


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A 6-step run of the tiny recipe, checkpointed into its own directory."""
    default_host().register(sys.modules[__name__], "trainer-test-doubles-module")
    try:
        workdir = tmp_path_factory.mktemp("finished")
        yield run(make_recipe(), workdir=workdir), workdir
    finally:
        default_host().unregister("trainer-test-doubles-module")


def test_a_finished_run_is_not_retrained(finished):
    result, workdir = finished
    calls = []
    again = run(make_recipe(), workdir=workdir, on_progress=lambda *a: calls.append(a))
    assert calls == [] and again.val.per_episode == result.val.per_episode


def test_checkpoint_of_another_strategy_is_refused(finished):
    with pytest.raises(TrainingError, match="another strategy"):
        run(recipe_with(strategy__outer_lr=0.02), workdir=finished[1])


def test_load_checkpoint_rebuilds_the_trained_learner(finished):
    result, _ = finished
    checkpoint = load_checkpoint(result.checkpoint, default_host().registry)
    assert checkpoint.step == 6 and checkpoint.strategy == make_recipe().fixed_strategy()
    assert checkpoint.recipe.seed == 3 and checkpoint.preprocessing == Preprocessing(channels=1, image_size=8)
    assert not checkpoint.learner.training
    for name, value in weights(result.learner).items():
        assert torch.equal(value, weights(checkpoint.learner)[name])


def test_load_checkpoint_names_a_missing_file(tmp_path):
    with pytest.raises(TrainingError, match="not found"):
        load_checkpoint(tmp_path / CHECKPOINT_NAME, default_host().registry)


def test_validation_callback_every_eval_every_steps_and_pruning_propagates_after_saving(tmp_path):
    class Pruned(Exception):
        pass

    seen = []

    def prune_at_six(step, result):
        seen.append((step, result.n))
        if step == 6:
            raise Pruned

    with pytest.raises(Pruned):
        run(recipe_with(training__meta_steps=9, training__checkpoint_every=100), workdir=tmp_path,
            on_validation=prune_at_six)
    assert seen == [(3, 4), (6, 4)]
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=False)["step"] == 6


def test_learner_is_told_its_training_progress():
    result = run(make_recipe())
    assert result.learner.progress == [step / 6 for step in range(6)]


def test_absurd_outer_learning_rate_stops_with_the_step_and_the_cause():
    recipe = recipe_with(strategy__outer_lr=1e30, strategy__outer_optimizer="sgd")
    with pytest.raises(TrainingError, match=r"step \d+: the meta-(loss|gradient norm) is (nan|inf).*learning rate"):
        run(recipe)


def test_meta_gradient_is_clipped_before_regularizers_see_it():
    GradProbe.seen.clear()
    norms = []
    recipe = recipe_with(strategy__grad_clip=1e-3, strategy__regularizers=["grad_probe"])
    run(recipe, on_progress=lambda step, total, metrics: norms.append(metrics["grad_norm"]))
    assert len(GradProbe.seen) == 6
    assert all(norm > 1e-3 for norm in norms)
    assert all(seen <= 1e-3 * 1.0001 for seen in GradProbe.seen)


def test_cosine_schedule_anneals_the_outer_lr():
    lrs = []
    run(recipe_with(strategy__lr_schedule="cosine"), on_progress=lambda s, t, metrics: lrs.append(metrics["lr"]))
    expected = [0.01 * (1 + math.cos(math.pi * step / 6)) / 2 for step in range(6)]
    assert lrs == pytest.approx(expected)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_outer_optimizers_train(optimizer):
    result = run(recipe_with(strategy__outer_optimizer=optimizer, training__amp="bf16"))
    assert 0.0 <= result.val.mean <= 1.0


def test_too_many_ways_fail_before_training_naming_the_split():
    calls = []
    with pytest.raises(DataError, match="train"):
        run(recipe_with(strategy__train_episodes={"ways": 7, "shots": 1, "queries": 2}),
            on_progress=lambda *a: calls.append(a))
    with pytest.raises(DataError, match="val"):
        run(recipe_with(evaluation__ways=6), on_progress=lambda *a: calls.append(a))
    assert calls == []


def test_build_learner_wires_backbone_regularizers_and_ways():
    strategy = recipe_with(strategy__regularizers=["grad_probe"]).fixed_strategy()
    learner = build_learner(strategy, Preprocessing(channels=1, image_size=8), default_host().registry)
    assert isinstance(learner.backbone, FlatLinear) and learner.backbone.layer.in_features == 64
    assert learner.ways == 3 and isinstance(learner.regularizers[0], GradProbe)


def test_train_recipe_scores_test_episodes_and_writes_metrics(tmp_path):
    report = train_recipe(make_recipe(), default_host().registry, workdir=tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert report.test.n == 5 and metrics["test"]["per_episode"] == report.test.per_episode
    assert metrics["val"]["mean"] == report.result.val.mean and (tmp_path / CHECKPOINT_NAME).is_file()


def test_train_command_prints_scores_and_saves_the_checkpoint(tmp_path):
    from typer.testing import CliRunner

    from autometa.cli import app

    recipe = tmp_path / "strategy.yaml"
    recipe.write_text(RECIPE)
    result = CliRunner().invoke(app, ["train", str(recipe), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "validation accuracy:" in result.output and "(95% CI, 4 episodes)" in result.output
    assert "test accuracy:" in result.output and "(95% CI, 5 episodes)" in result.output
    assert (tmp_path / "out" / CHECKPOINT_NAME).is_file()


def test_train_command_refuses_a_search_space_in_one_line(tmp_path, monkeypatch, capsys):
    from autometa import cli

    recipe = tmp_path / "space.yaml"
    recipe.write_text(RECIPE.replace("outer_lr: 0.01", "outer_lr: {log_uniform: [0.001, 0.1]}"))
    monkeypatch.setattr(sys, "argv", ["autometa", "train", str(recipe)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: strategy: this recipe declares a search space")


def test_a_deadline_stops_after_the_current_step_with_the_checkpoint_saved(tmp_path):
    import time

    from autometa.learning import StoppedAtDeadline

    recipe = make_recipe()
    with pytest.raises(StoppedAtDeadline) as stopped:
        run(recipe, workdir=tmp_path, deadline=time.monotonic())
    assert (stopped.value.step, stopped.value.total) == (1, 6)
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=False)["step"] == 1
    steps_seen = []
    resumed = run(recipe, workdir=tmp_path, on_progress=lambda step, total, m: steps_seen.append(step))
    assert steps_seen == [2, 3, 4, 5, 6] and resumed.steps == 6

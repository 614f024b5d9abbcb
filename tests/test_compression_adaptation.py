"""Compression stages on a gradient learner's full-adaptation predictor: each works (and the compressed
predictor still adapts as its learner does, and exports) or refuses up front in one line."""

from __future__ import annotations

import pytest
import torch
from doubles import tiny_patterns, untrained_predictor_and_context

from autometa.deploy import STAGES, count_flops, count_parameters, export_and_verify
from autometa.errors import RecipeError
from autometa.plugins import default_host
from autometa.recipe import EpisodeShape, Strategy

SHAPE = EpisodeShape(ways=2, shots=1, queries=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_patterns(tmp_path_factory.mktemp("cache"))


def predictor_and_context(data, learner):
    strategy = Strategy(learner=learner, backbone={"conv4": {"width": 8, "depth": 2}})
    return untrained_predictor_and_context(data, strategy, SHAPE, val_episodes=2)


def run(kind: str, ref, predictor, context):
    return getattr(default_host().registry.create(kind, ref), STAGES[kind])(predictor, context)


def assert_adapts_as_its_learner(predictor, context):
    """The compressed predictor still runs its (compressed) learner's own adaptation."""
    episode = context.val_episodes[0]
    with torch.no_grad():
        got = predictor(*episode.predictor_inputs())
    torch.testing.assert_close(got, predictor.learner.predict(episode), atol=0, rtol=0)


def test_channel_pruning_shrinks_what_maml_adapts_and_exports(data, tmp_path):
    predictor, context = predictor_and_context(data, {"maml": {"inner_steps": 2, "inner_optimizer": "mamlpp"}})
    out = run("pruner", {"channels": {"ratio": 0.5, "finetune_steps": 2}}, predictor, context)
    convs = [m for m in out.predictor.learner.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 4]  # the output channels too: a zero head is sized anew
    assert count_parameters(out.predictor) < count_parameters(predictor) / 2
    assert_adapts_as_its_learner(out.predictor, context)
    exporter = default_host().registry.create("exporter", "torch_export")
    (report,) = export_and_verify(out.predictor, [exporter], tmp_path, context.val_episodes, fresh_process=False)
    assert report.max_abs_diff < 1e-3


@pytest.mark.parametrize("learner, reason", [
    ("metasgd", "meta_sgd (a learning rate per weight)"),
    ({"maml": {"per_step_bn": True}}, "per_step_bn"),
])
def test_channel_pruning_refuses_state_shaped_like_the_backbone(data, learner, reason):
    predictor, context = predictor_and_context(data, learner)
    with pytest.raises(RecipeError, match="compression.pruner channels cannot") as caught:
        run("pruner", {"channels": {"ratio": 0.5, "finetune_steps": 0}}, predictor, context)
    assert reason in str(caught.value) and "\n" not in str(caught.value)


def test_magnitude_pruning_keeps_the_names_an_inner_optimizer_looks_up(data):
    predictor, context = predictor_and_context(data, "metasgd")  # rates keyed by the weights' names
    out = run("pruner", {"magnitude": {"amount": 0.5, "finetune_steps": 2}}, predictor, context)
    weights = [m.weight for m in out.predictor.learner.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros > 0.3  # still zero after fine-tuning
    assert {n for n, _ in out.predictor.named_parameters()} == {n for n, _ in predictor.named_parameters()}
    assert_adapts_as_its_learner(out.predictor, context)


def test_distillation_fine_tunes_an_adapting_predictor_first_order(data):
    predictor, context = predictor_and_context(data, {"maml": {"inner_steps": 1}})
    out = run("distiller", {"logits": {"steps": 2, "lr": 1e-2}}, predictor, context)
    before, after = predictor.backbone.state_dict(), out.predictor.backbone.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # gradients reached the meta-parameters
    assert_adapts_as_its_learner(out.predictor, context)


def test_a_new_student_backbone_is_refused_for_an_adapting_predictor_and_taken_by_anil(data):
    small = {"conv4": {"width": 4, "depth": 2}}
    maml, context = predictor_and_context(data, {"maml": {"inner_steps": 1}})
    with pytest.raises(RecipeError, match="student_backbone cannot replace"):
        run("distiller", {"logits": {"steps": 1, "student_backbone": small}}, maml, context)
    anil, context = predictor_and_context(data, {"anil": {"inner_steps": 1}})
    out = run("distiller", {"logits": {"steps": 1, "student_backbone": small}}, anil, context)
    assert out.predictor.learner.backbone is out.predictor.backbone  # the learner adapts on the new backbone
    assert count_parameters(out.predictor.backbone) < count_parameters(anil.backbone)
    assert_adapts_as_its_learner(out.predictor, context)


@pytest.mark.parametrize("learner, reason", [
    ({"maml": {"inner_steps": 1}}, "adapts its backbone's weights"),
    ({"anil": {"inner_steps": 1}}, "each episode's own"),  # batch statistics: nothing to fold
])
def test_int8_refuses_what_it_cannot_quantize(data, learner, reason):
    predictor, context = predictor_and_context(data, learner)
    with pytest.raises(RecipeError, match="quantizer int8") as caught:
        run("quantizer", "int8", predictor, context)
    assert reason in str(caught.value)


def test_flops_count_the_inner_steps(data):
    one, context = predictor_and_context(data, {"maml": {"inner_steps": 1}})
    three, _ = predictor_and_context(data, {"maml": {"inner_steps": 3}})
    assert count_flops(three, context.example) > 1.5 * count_flops(one, context.example)

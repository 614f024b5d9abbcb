"""Compression stages on a tiny Conv4 ProtoNet predictor: structured pruning is physically
smaller, unstructured pruning reports sparsity, distillation trains a student (also a new,
smaller backbone from scratch), int8 is kept only when its accuracy check passes."""

from __future__ import annotations

import pytest
import torch
from doubles import tiny_patterns, untrained_predictor_and_context

from autometa.deploy import STAGES, compress, count_flops, count_nonzero_parameters, count_parameters, frozen_copy
from autometa.errors import RecipeError
from autometa.plugins import default_host
from autometa.recipe import CompressionSection, EpisodeShape, Strategy

SHAPE = EpisodeShape(ways=2, shots=1, queries=2)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data = tiny_patterns(tmp_path_factory.mktemp("cache"))
    strategy = Strategy(learner="protonet", backbone={"conv4": {"width": 16, "depth": 2}})
    return untrained_predictor_and_context(data, strategy, SHAPE, val_episodes=3)


def run(kind: str, ref, setup):
    predictor, context = setup
    return getattr(default_host().registry.create(kind, ref), STAGES[kind])(predictor, context)


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
def test_channel_pruning_removes_channels(setup, importance):
    predictor, context = setup
    before = {n: p.clone() for n, p in predictor.state_dict().items()}
    out = run("pruner", {"channels": {"importance": importance, "ratio": 0.5, "iterations": 2, "finetune_steps": 2}}, setup)
    convs = [m for m in out.predictor.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 8]
    assert count_parameters(out.predictor) < count_parameters(predictor) / 3
    assert count_flops(out.predictor, context.example) < count_flops(predictor, context.example) / 2
    assert out.predictor(*context.example).shape == (4, 2)
    assert all(torch.equal(before[n], p) for n, p in predictor.state_dict().items()), "input was modified"


def test_channel_pruning_keeps_the_feature_size_a_head_depends_on(setup):
    predictor, context = setup
    out = run("pruner", {"channels": {"ratio": 0.5, "finetune_steps": 0, "keep_feature_dim": True}}, setup)
    assert out.predictor.backbone(context.example[0]).shape == predictor.backbone(context.example[0]).shape


def test_unstructured_pruning_reports_sparsity(setup):
    predictor, _ = setup
    out = run("pruner", {"magnitude": {"amount": 0.6, "iterations": 2, "finetune_steps": 1}}, setup)
    assert count_parameters(out.predictor) == count_parameters(predictor)
    conv_weights = [m.weight for m in out.predictor.modules() if isinstance(m, torch.nn.Conv2d)]
    zeros = sum(int((w == 0).sum()) for w in conv_weights) / sum(w.numel() for w in conv_weights)
    assert zeros == pytest.approx(0.6, abs=0.01)  # still zero after fine-tuning
    assert "are zero" in out.notes
    assert count_nonzero_parameters(out.predictor) < 0.5 * count_parameters(predictor)


@pytest.mark.parametrize("distiller", ["logits", "embeddings"])
def test_distillation_moves_the_student_towards_the_teacher(setup, distiller):
    predictor, context = setup
    student = frozen_copy(predictor)
    with torch.no_grad():
        for p in student.backbone.parameters():
            p.add_(0.3 * torch.randn_like(p))
    inputs = context.example

    def gap(model):
        return (model.backbone(inputs[0]) - context.teacher.backbone(inputs[0])).pow(2).mean().item()

    plugin = default_host().registry.create("distiller", {distiller: {"steps": 15, "lr": 3e-3, "alpha": 1.0}})
    out = plugin.distill(student, context)
    if distiller == "logits":
        kl = torch.nn.functional.kl_div
        def soft_gap(model):
            return kl(model(*inputs).log_softmax(-1), context.teacher(*inputs).log_softmax(-1),
                      log_target=True, reduction="batchmean").item()
        assert soft_gap(out.predictor) < soft_gap(student)
    else:
        assert gap(out.predictor) < gap(student)


def test_distillation_into_a_new_smaller_backbone_from_scratch(setup):
    predictor, context = setup
    small = {"conv4": {"width": 4, "depth": 2}}
    out = run("distiller", {"logits": {"steps": 2, "student_backbone": small}}, setup)
    assert count_parameters(out.predictor.backbone) < count_parameters(predictor.backbone) / 4
    assert out.predictor(*context.example).shape == (4, 2)
    assert "a new conv4" in out.notes


def test_student_backbone_must_fit_a_head_that_depends_on_the_feature_size(setup):
    predictor, context = setup
    with_head = frozen_copy(predictor)
    features = with_head.backbone(context.example[0]).shape[-1]
    with_head.head.register_parameter("weight", torch.nn.Parameter(torch.zeros(3, features)))
    plugin = default_host().registry.create("distiller", {"logits": {"steps": 1, "student_backbone": {"conv4": {"width": 4, "depth": 2}}}})
    with pytest.raises(RecipeError, match="head expects"):
        plugin.distill(with_head, context)


@pytest.mark.parametrize("quantized_accuracy, kept", [(0.995, True), (0.98, False)])
def test_int8_is_kept_only_if_accuracy_holds(setup, monkeypatch, quantized_accuracy, kept):
    pytest.importorskip("torchao")
    from autometa_plugins.quantizers import pt2e

    predictor, context = setup
    # Float scores 100%, int8 as given; the limit is one point.
    monkeypatch.setattr(pt2e, "episode_accuracy", lambda model, _: 1.0 if model is predictor else quantized_accuracy)
    out = run("quantizer", {"int8": {"calibration_episodes": 2, "max_accuracy_drop": 1.0}}, setup)
    assert out.kept is kept
    if kept:
        assert any("quantize" in str(n.target) for n in out.predictor.backbone.graph.nodes)
        assert out.predictor(*context.example).shape == (4, 2)
    else:
        assert out.predictor is predictor and out.notes.startswith("discarded")


def test_pipeline_scores_every_stage_in_order(setup):
    predictor, context = setup
    section = CompressionSection(
        pruner={"channels": {"ratio": 0.5, "finetune_steps": 1}}, distiller={"logits": {"steps": 1}}
    )
    result = compress(predictor, section, context, context.val_episodes, latency_runs=2)
    assert [s.stage for s in result.stages] == ["original", "pruner", "distiller"]
    assert result.stages[1].parameters < result.stages[0].parameters
    assert all(0 <= s.accuracy.mean <= 100 and s.accuracy.episodes == 3 for s in result.stages)
    assert result.predictor(*context.example).shape == (4, 2)


def test_the_latency_objective_times_a_real_looking_episode_the_same_every_time():
    """An all-zero episode runs faster than real images; the cost objectives time seeded random pixels."""
    from autometa.data import Preprocessing
    from autometa.deploy import example_inputs

    shape, pre = EpisodeShape(ways=3, shots=2, queries=4), Preprocessing(channels=1, image_size=8)
    support, onehot, query = example_inputs(shape, pre)
    assert support.shape == (6, 1, 8, 8) and query.shape == (12, 1, 8, 8) and onehot.sum(0).tolist() == [2, 2, 2]
    assert support.std() > 0.2 and query.std() > 0.2
    again = example_inputs(shape, pre)
    assert torch.equal(support, again[0]) and torch.equal(query, again[2])

"""Episodic scoring: mean, 95% CI, per-episode scores; exported-predictor adapter; device choice."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from autometa.data import Episode
from autometa.errors import AutometaError
from autometa.learning import autocast, evaluate, evaluate_learner, evaluate_predictor, select_device


def episode_with_label(label: int, ways: int = 2, queries: int = 4) -> Episode:
    """An episode whose support images are filled with their class number; queries all of class ``label``."""
    support_y = torch.arange(ways)
    support_x = support_y.float().view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone()
    query_x = torch.full((queries, 1, 2, 2), float(label))
    return Episode(support_x, support_y, query_x, torch.full((queries,), label), ways)


def always_class_zero(episode: Episode) -> torch.Tensor:
    return torch.tensor([1.0, 0.0]).expand(len(episode.query_y), -1)


def test_mean_ci_and_per_episode_scores():
    episodes = [episode_with_label(0), episode_with_label(1), episode_with_label(0), episode_with_label(0)]
    result = evaluate(always_class_zero, episodes)
    assert result.per_episode == [1.0, 0.0, 1.0, 1.0] and result.n == 4
    assert result.mean == 0.75
    std = math.sqrt((3 * 0.25**2 + 0.75**2) / 4)
    assert result.ci95 == pytest.approx(1.96 * std / 2)
    assert str(result) == f"75.00% +- {100 * 1.96 * std / 2:.2f}% (95% CI, 4 episodes)"


def test_partial_accuracy_within_an_episode():
    episode = episode_with_label(0)
    episode.query_y = torch.tensor([0, 0, 1, 1])
    assert evaluate(always_class_zero, [episode]).per_episode == [0.5]


def test_no_episodes_is_an_error():
    with pytest.raises(ValueError, match="at least one episode"):
        evaluate(always_class_zero, [])


class NearestSupport(nn.Module):
    """An exported-predictor-shaped module: prototypes from one-hot labels, -squared distance."""

    def __init__(self):
        super().__init__()
        self.calls: list[torch.Tensor] = []

    def forward(self, support, onehot, query):
        self.calls.append(onehot)
        assert not torch.is_grad_enabled()
        prototypes = onehot.T @ support.flatten(1) / onehot.sum(0, keepdim=True).T
        q = query.flatten(1)
        return -((q * q).sum(1, keepdim=True) - 2 * q @ prototypes.T + (prototypes * prototypes).sum(1))


def test_exported_predictor_gets_one_hot_labels_and_scores_perfectly():
    predictor = NearestSupport()
    result = evaluate_predictor(predictor, [episode_with_label(1, ways=3), episode_with_label(2, ways=3)])
    assert result.per_episode == [1.0, 1.0]
    assert torch.equal(predictor.calls[0], torch.eye(3))


class ModeRecorder(nn.Module):
    """A learner stand-in that records whether it was in training mode when asked to predict."""

    def __init__(self):
        super().__init__()
        self.modes: list[bool] = []

    def predict(self, episode: Episode) -> torch.Tensor:
        self.modes.append(self.training)
        assert torch.is_grad_enabled(), "gradient learners need autograd to adapt"
        return always_class_zero(episode)


def test_learner_predicts_in_eval_mode_with_autograd_and_its_mode_is_restored():
    learner = ModeRecorder().train()
    result = evaluate_learner(learner, [episode_with_label(0), episode_with_label(1)])
    assert learner.modes == [False, False] and learner.training
    assert result.per_episode == [1.0, 0.0]


def test_device_selection():
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert select_device("auto").type == expected
    with pytest.raises(AutometaError, match="unknown device 'tpu'"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(AutometaError, match="not available"):
            select_device("cuda")


def test_bf16_autocast_only_when_asked_or_on_cuda():
    cpu = torch.device("cpu")
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast(cpu, "auto"):
        assert (a @ b).dtype == torch.float32
    with autocast(cpu, "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with autocast(cpu, "off"):
        assert (a @ b).dtype == torch.float32
    with warnings.catch_warnings():  # constructing a CUDA autocast without CUDA warns
        warnings.simplefilter("ignore")
        assert isinstance(autocast(torch.device("cuda"), "auto"), torch.autocast)

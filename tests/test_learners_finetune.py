"""The finetune learner: a classifier fitted on the (augmented) support set at prediction time, inside
the exported predictor."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from test_learners_metric import IMAGE, Identity, build, conv4, random_episode

from autometa.data import Episode
from autometa.deploy import export_and_verify
from autometa.plugins import default_host
from autometa_plugins.learners._distances import class_means, l2_normalize
from autometa_plugins.learners.finetune import FittedClassifier


def at_angles(degrees: list[float]) -> torch.Tensor:
    """Unit 2-d points at ``degrees``, as ``[M, 1, 1, 2]`` images."""
    radians = torch.tensor(degrees) * math.pi / 180
    return torch.stack([radians.cos(), radians.sin()], dim=1).view(-1, 1, 1, 2)


def skewed_support() -> Episode:
    """Separable by a line through the origin, but class 0's mean (about 19 degrees) is nearer the
    point at 100 degrees than class 1 is wrong: the prototype rule misclassifies that point."""
    support = at_angles([0, 0, 0, 100, 130])
    labels = torch.tensor([0, 0, 0, 0, 1])
    return Episode(support, labels, support, labels, 2)


@pytest.mark.parametrize("classifier", ["cosine", "linear"])
def test_the_deploy_time_fit_reaches_100_percent_on_a_separable_support_set(classifier):
    episode = skewed_support()

    def accuracy(steps: int) -> float:
        learner = build({"finetune": {"classifier": classifier, "steps": steps, "lr": 1.0}}, backbone=Identity(2), ways=2)
        return (learner.eval().predict(episode).argmax(-1) == episode.query_y).float().mean().item()

    assert accuracy(0) < 1.0  # the prototype classifier it starts from misclassifies the point at 100 degrees
    assert accuracy(100) == 1.0


@pytest.mark.parametrize("classifier", ["cosine", "linear"])
def test_one_closed_form_step_is_the_autograd_gradient_step(classifier):
    g = torch.Generator().manual_seed(0)
    support, query = torch.randn(6, 5, generator=g), torch.randn(4, 5, generator=g)
    onehot = F.one_hot(torch.tensor([0, 0, 1, 1, 2, 2]), 3).float()
    lr, decay, scale = 0.3, 0.01, 7.0
    fitted = FittedClassifier(classifier, steps=1, lr=lr, weight_decay=decay, scale=scale)(support, onehot, query)

    features, queries = l2_normalize(support), l2_normalize(query)
    weight = class_means(features, onehot).requires_grad_()
    bias = (-0.5 * scale * (weight * weight).sum(-1)).detach().requires_grad_()

    def logits(x, w, b):
        if classifier == "cosine":
            return scale * x @ l2_normalize(w).T
        return scale * x @ w.T + b

    loss = F.cross_entropy(logits(features, weight, bias), onehot.argmax(-1))
    grad_w, grad_b = torch.autograd.grad(loss, [weight, bias], allow_unused=True, materialize_grads=True)
    new_weight = weight - lr * (grad_w + decay * weight)
    new_bias = bias - lr * grad_b
    torch.testing.assert_close(fitted, logits(queries, new_weight, new_bias).detach(), atol=1e-5, rtol=1e-5)


def test_views_add_stored_augmented_copies_of_every_support_image():
    learner = build({"finetune": {"views": 3, "view_augment": ["affine"]}}, backbone=conv4())
    support = torch.rand(4, *IMAGE)
    onehot = F.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    images, labels = learner.views(support, onehot)
    assert images.shape == (16, *IMAGE) and labels.shape == (16, 3)
    assert torch.equal(images[:4], support) and torch.equal(labels[4:].view(4, 3, 3)[:, 0], onehot)
    assert not torch.equal(images[4:7], support[:1].expand(3, *IMAGE))  # copies are transformed
    again, _ = build({"finetune": {"views": 3, "view_augment": ["affine"]}}, backbone=conv4()).views(support, onehot)
    assert torch.equal(images, again)  # the settings are stored, the same in every build


def test_meta_training_backpropagates_through_the_unrolled_fit():
    learner = build({"finetune": {"steps": 3}}).train()
    from test_learners_metric import separable_batch

    output = learner.meta_step(separable_batch(torch.Generator().manual_seed(1)))
    assert 0.0 <= output.accuracy <= 1.0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.backbone.parameters())


@pytest.mark.parametrize("fmt", ["torch_export", "onnx"])
def test_a_fitting_predictor_with_views_exports_and_verifies(fmt, tmp_path):
    ref = {"finetune": {"classifier": "linear", "steps": 5, "views": 2, "view_augment": ["affine", "elastic"]}}
    learner = build(ref, backbone=conv4()).eval()
    predictor = learner.export_predictor()
    episodes = [random_episode(ways=3, shots=2, queries=3, seed=1), random_episode(ways=4, shots=1, queries=2, seed=2)]
    with torch.no_grad():
        torch.testing.assert_close(
            predictor(*episodes[0].predictor_inputs()), learner.predict(episodes[0]), atol=1e-5, rtol=1e-5
        )
    exporter = default_host().registry.create("exporter", fmt)
    [report] = export_and_verify(predictor, [exporter], tmp_path, episodes)
    assert report.fresh_process  # export_and_verify raised ExportError on any logit beyond the tolerance

"""Gradient-based learners: exact meta-gradients, what each inner loop adapts, Reptile, and that they learn."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autometa import Backbone
from autometa.data import TaskBatch
from autometa.errors import RecipeError
from autometa.plugins import default_host

IMAGE = (1, 2, 2)


class Tanh(Backbone):
    """One tanh layer over the 4 pixels: tiny and smooth, so finite differences are exact to ~1e-9."""

    name = "tanh"

    def __init__(self, features: int = 3):
        nn.Module.__init__(self)
        self.out_features = features
        self.layer = nn.Linear(4, features)

    def forward(self, images):
        return torch.tanh(self.layer(images.flatten(1)))


def build(ref, ways: int = 3, features: int = 3):
    torch.manual_seed(0)
    return default_host().registry.create("learner", ref, backbone=Tanh(features), ways=ways, registry=default_host().registry)


def random_batch(tasks: int = 2, ways: int = 3, shots: int = 2, queries: int = 2, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return TaskBatch(
        torch.randn(tasks, ways * shots, *IMAGE, generator=g, dtype=dtype),
        torch.arange(ways).repeat(shots).repeat(tasks, 1),
        torch.randn(tasks, ways * queries, *IMAGE, generator=g, dtype=dtype),
        torch.arange(ways).repeat(queries).repeat(tasks, 1),
        ways,
    )


def meta_gradient(learner, batch) -> torch.Tensor:
    learner.zero_grad()
    learner.meta_step(batch)
    return torch.cat([p.grad.flatten() for p in learner.parameters()])


def meta_loss(learner, batch) -> float:
    losses = [
        learner.task_loss(batch.support_x[i], batch.support_y[i], batch.query_x[i], batch.query_y[i], batch.ways, False)[0]
        for i in range(len(batch))
    ]
    return float(torch.stack(losses).mean())


def finite_differences(learner, batch, eps: float = 1e-6) -> torch.Tensor:
    estimate = []
    with torch.no_grad():
        for param in learner.parameters():
            flat = param.view(-1)
            for i in range(flat.numel()):
                flat[i] += eps
                up = meta_loss(learner, batch)
                flat[i] -= 2 * eps
                down = meta_loss(learner, batch)
                flat[i] += eps
                estimate.append((up - down) / (2 * eps))
    return torch.tensor(estimate, dtype=torch.float64)


MAML_2_STEPS = {"maml": {"inner_steps": 2, "inner_lr": 0.5, "head_init": "learned"}}


def test_second_order_maml_meta_gradient_matches_finite_differences():
    learner = build(MAML_2_STEPS).double()
    batch = random_batch(dtype=torch.float64)
    torch.testing.assert_close(meta_gradient(learner, batch), finite_differences(learner, batch), atol=1e-7, rtol=1e-6)


def test_first_order_maml_is_the_query_gradient_at_the_adapted_weights_not_the_true_meta_gradient():
    options = {"maml": {**MAML_2_STEPS["maml"], "first_order": True}}
    learner = build(options).double()
    batch = random_batch(tasks=1, dtype=torch.float64)
    first_order = meta_gradient(learner, batch)
    # FOMAML: d(query loss)/d(adapted weights), evaluated at the adapted weights.
    adapted, _ = learner.adapt(batch.support_x[0], batch.support_y[0], 3, first_order=True, detach=True)
    leaves = {name: t.clone().requires_grad_() for name, t in adapted.items()}
    loss = F.cross_entropy(learner._logits(leaves, {}, batch.query_x[0]), batch.query_y[0])
    grads = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()))))
    expected = torch.cat([grads[name].flatten() for name, _ in learner.named_parameters()])
    torch.testing.assert_close(first_order, expected)
    exact = finite_differences(learner, batch)
    assert (first_order - exact).norm() > 0.05 * exact.norm()  # second-order terms are not negligible here


def test_maml_anneals_from_first_to_second_order():
    learner = build({"maml": {"first_order_until": 0.5}})
    learner.set_training_progress(0.2)
    assert learner.first_order()
    learner.set_training_progress(0.5)
    assert not learner.first_order()


def test_anil_leaves_the_body_untouched_in_the_inner_loop():
    learner = build({"anil": {"inner_steps": 3}})
    batch = random_batch(tasks=1)
    body = {name: p.detach().clone() for name, p in learner.backbone.named_parameters()}
    adapted, _ = learner.adapt(batch.support_x[0], batch.support_y[0], 3, first_order=False)
    assert set(adapted) == {"head.weight", "head.bias"}
    assert adapted["head.weight"].abs().sum() > 0  # the head moved away from zero
    assert all(torch.equal(p, body[name]) for name, p in learner.backbone.named_parameters())
    # ... and the outer loop still trains the body through the query loss.
    assert meta_gradient(learner, batch).abs().sum() > 0


def test_maml_adapts_the_body_in_the_inner_loop():
    learner = build({"maml": {"inner_steps": 2}})
    batch = random_batch(tasks=1)
    adapted, _ = learner.adapt(batch.support_x[0], batch.support_y[0], 3, first_order=False)
    assert not torch.equal(adapted["backbone.layer.weight"], learner.backbone.layer.weight)


def test_meta_sgd_learning_rates_receive_gradients():
    learner = build({"metasgd": {"inner_steps": 2}})
    meta_gradient(learner, random_batch())
    rates = list(learner.inner_optimizer.rates.values())
    assert len(rates) == 4  # body weight and bias, head weight and bias
    assert all(rate.grad is not None and rate.grad.abs().sum() > 0 for rate in rates)


def test_reptile_moves_the_weights_toward_the_adapted_weights():
    learner = build({"reptile": {"inner_steps": 3, "head_init": "learned"}})
    batch = random_batch(tasks=2)
    targets = []
    for i in range(2):
        adapted, _ = learner.adapt(batch.support_x[i], batch.support_y[i], 3, first_order=True, detach=True)
        targets.append(adapted)
    mean_adapted = {name: (targets[0][name] + targets[1][name]) / 2 for name in targets[0]}
    names = dict(learner.named_parameters())
    before = sum((names[n] - mean_adapted[n]).norm() ** 2 for n in mean_adapted)
    learner.meta_step(batch)
    for name, target in mean_adapted.items():
        torch.testing.assert_close(names[name].grad, names[name].detach() - target)
    torch.optim.SGD(learner.parameters(), lr=0.5).step()
    after = sum((names[n] - mean_adapted[n]).norm() ** 2 for n in mean_adapted)
    torch.testing.assert_close(after, 0.25 * before)  # halfway there: a quarter of the squared distance


def test_reptile_refuses_an_inner_optimizer_it_cannot_meta_learn():
    with pytest.raises(RecipeError, match="inner_optimizer: sgd"):
        build({"reptile": {"inner_optimizer": "meta_sgd"}})


def test_anil_refuses_per_step_batch_norm():
    with pytest.raises(RecipeError, match="per_step_bn: false"):
        build({"anil": {"per_step_bn": True}})


def test_a_learned_head_refuses_episodes_with_other_ways_and_says_what_to_do():
    learner = build({"maml": {"head_init": "learned"}}, ways=3)
    episode = random_batch(ways=4).episode(0)
    with pytest.raises(RecipeError, match="head_init: zero"):
        learner.predict(episode)


def test_a_zero_head_adapts_to_more_ways_than_it_was_trained_on():
    learner = build("maml", ways=3)
    episode = random_batch(ways=5).episode(0)
    assert learner.predict(episode).shape == (10, 5)


def test_predict_needs_no_autograd_context_and_leaves_no_gradients():
    learner = build({"maml": {"inner_steps": 2}})
    with torch.no_grad():
        logits = learner.predict(random_batch().episode(0))
    assert not logits.requires_grad
    assert all(p.grad is None for p in learner.parameters())


def separable_batch(generator: torch.Generator, tasks: int = 4, ways: int = 3, shots: int = 1, queries: int = 3) -> TaskBatch:
    """Each task draws `ways` of 6 fixed class templates (labels in a random order) plus noise."""
    templates = torch.randn(6, *IMAGE, generator=torch.Generator().manual_seed(123)) * 2  # noise: std 1
    support, query = [], []
    for _ in range(tasks):
        classes = torch.randperm(6, generator=generator)[:ways]
        support.append(templates[classes].repeat(shots, 1, 1, 1) + torch.randn(ways * shots, *IMAGE, generator=generator))
        query.append(templates[classes].repeat(queries, 1, 1, 1) + torch.randn(ways * queries, *IMAGE, generator=generator))
    return TaskBatch(
        torch.stack(support), torch.arange(ways).repeat(shots).repeat(tasks, 1),
        torch.stack(query), torch.arange(ways).repeat(queries).repeat(tasks, 1), ways,
    )


@pytest.mark.parametrize("ref", ["maml", "anil", "metasgd", {"maml": {"first_order": True}}, {"reptile": {"inner_steps": 3}}],
                         ids=["maml", "anil", "metasgd", "fomaml", "reptile"])
def test_meta_training_lowers_the_held_out_query_loss(ref):
    learner = build(ref, features=16)
    optimizer = torch.optim.Adam(learner.parameters(), lr=0.03)
    generator = torch.Generator().manual_seed(0)
    held_out = separable_batch(torch.Generator().manual_seed(99), tasks=16)

    def held_out_loss() -> float:
        return sum(
            F.cross_entropy(learner.predict(held_out.episode(i)), held_out.query_y[i]).item()
            for i in range(len(held_out))
        ) / len(held_out)

    before = held_out_loss()
    for _ in range(30):
        optimizer.zero_grad()
        learner.meta_step(separable_batch(generator))
        optimizer.step()
    assert held_out_loss() < 0.9 * before


@pytest.mark.parametrize("head_init, equivariant", [("zero", True), ("learned", False)])
def test_zero_head_init_is_label_permutation_equivariant_so_it_cannot_memorise_labels(head_init, equivariant):
    """Relabelling the support permutes the logits the same way only with ``head_init: zero``.

    That is why a fixed class-to-label assignment (Yin et al.'s non-mutually-exclusive
    tasks) cannot be memorised by the default MAML, and can by classic MAML.
    """
    learner = build({"maml": {"inner_steps": 2, "inner_lr": 0.5, "head_init": head_init}})
    with torch.no_grad():
        for param in learner.parameters():
            param.add_(torch.randn_like(param))  # a head init that prefers some labels
    episode = random_batch(tasks=1).episode(0)
    permutation = torch.tensor([2, 0, 1])
    relabelled = type(episode)(episode.support_x, permutation[episode.support_y], episode.query_x,
                               permutation[episode.query_y], episode.ways)
    logits, relabelled_logits = learner.predict(episode), learner.predict(relabelled)
    same = torch.allclose(relabelled_logits[:, permutation], logits, atol=1e-5)
    assert same == equivariant

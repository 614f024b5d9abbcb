"""The functional inner loop and the built-in update rules (sgd, meta_sgd)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autometa import Backbone, Regularizer
from autometa.components import PluginOptions
from autometa.data import TaskBatch
from autometa.errors import RecipeError
from autometa.learning import gradient as inner_loop_module
from autometa.learning import inner_loop
from autometa.plugins import default_host


def linear_problem(seed: int = 0):
    """A 3-class softmax regression on 6 random points: params, and the support loss of the inner loop."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(6, 4, generator=g), torch.arange(3).repeat(2)
    params = {"head.weight": torch.randn(3, 4, generator=g), "head.bias": torch.zeros(3)}

    def loss(p, buffers, step):
        return F.cross_entropy(F.linear(x, p["head.weight"], p["head.bias"]), y)

    return params, loss


def optimizer(name: str, params, lr: float, steps: int = 1):
    templates = {"head.weight": torch.zeros(1, 4), "head.bias": torch.zeros(1)}
    return default_host().registry.create("inner_optimizer", name, params=templates, steps=steps, lr=lr)


def test_sgd_steps_equal_hand_written_gradient_descent():
    params, loss = linear_problem()
    adapted = inner_loop(loss, params, optimizer("sgd", params, lr=0.5), steps=3)
    expected = {k: v.clone().requires_grad_() for k, v in params.items()}
    for _ in range(3):
        grads = torch.autograd.grad(loss(expected, {}, 0), list(expected.values()))
        expected = {k: (v - 0.5 * g).detach().requires_grad_() for (k, v), g in zip(expected.items(), grads)}
    for name in params:
        torch.testing.assert_close(adapted[name], expected[name].detach())


@pytest.mark.parametrize("rule", ["sgd", "meta_sgd"])
def test_a_zero_learning_rate_leaves_the_weights_unchanged(rule):
    params, loss = linear_problem()
    opt = optimizer("sgd", params, lr=0.0) if rule == "sgd" else optimizer("meta_sgd", params, lr=0.4)
    if rule == "meta_sgd":
        with torch.no_grad():
            for rate in opt.rates.values():
                rate.zero_()
    adapted = inner_loop(loss, params, opt, steps=2)
    for name in params:
        assert torch.equal(adapted[name], params[name])
    moved = inner_loop(loss, params, optimizer("sgd", params, lr=0.1), steps=2)
    assert not torch.equal(moved["head.weight"], params["head.weight"])  # the check above can fail


def test_meta_sgd_rates_broadcast_over_the_classes_and_receive_gradients():
    params, loss = linear_problem()
    opt = optimizer("meta_sgd", params, lr=0.3, steps=2)
    assert opt.rate("head.weight").shape == (1, 4)
    adapted = inner_loop(loss, params, opt, steps=2, first_order=True)
    probe = torch.randn(3, 4, generator=torch.Generator().manual_seed(2))  # plain sums cancel over classes
    ((adapted["head.weight"] * probe).sum() + (adapted["head.bias"] * probe[:, 0]).sum()).backward()
    assert all(rate.grad is not None and rate.grad.abs().sum() > 0 for rate in opt.rates.values())


def test_first_order_detaches_the_gradients_but_keeps_the_path_to_the_init():
    params, loss = linear_problem()
    start = {k: v.clone().requires_grad_() for k, v in params.items()}
    second = inner_loop(loss, start, optimizer("sgd", start, lr=0.5), steps=1)
    first = inner_loop(loss, start, optimizer("sgd", start, lr=0.5), steps=1, first_order=True)
    probe = torch.randn(3, 4, generator=torch.Generator().manual_seed(2))
    (grad_first,) = torch.autograd.grad((first["head.weight"] * probe).sum(), [start["head.weight"]])
    (grad_second,) = torch.autograd.grad((second["head.weight"] * probe).sum(), [start["head.weight"]])
    assert torch.equal(grad_first, probe)  # d(w - lr * g.detach())/dw = identity
    assert not torch.allclose(grad_second, grad_first)  # the Hessian term


class BiasPush(Regularizer):
    """Inner penalty sum(bias): adds exactly 1 to every bias gradient."""

    name = "bias_push"

    def __init__(self):
        super().__init__(PluginOptions())

    def inner_penalty(self, params, init_params):
        return params["head.bias"].sum()


def test_inner_penalties_of_regularizers_enter_every_inner_step():
    params, loss = linear_problem()
    plain = inner_loop(loss, params, optimizer("sgd", params, lr=0.5), steps=2)
    pushed = inner_loop(loss, params, optimizer("sgd", params, lr=0.5), steps=2, regularizers=[BiasPush()])
    # Softmax CE is invariant to a shift of every bias, so the push adds -lr * 1 per step, exactly.
    torch.testing.assert_close(pushed["head.bias"], plain["head.bias"] - 2 * 0.5)


class ConvBN(Backbone):
    name = "conv_bn"

    def __init__(self):
        nn.Module.__init__(self)
        self.out_features = 4
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, images):
        return self.net(images)


def tiny_batch(tasks: int = 2, ways: int = 3) -> TaskBatch:
    g = torch.Generator().manual_seed(1)
    return TaskBatch(
        torch.randn(tasks, ways, 1, 6, 6, generator=g) + 2, torch.arange(ways).repeat(tasks, 1),
        torch.randn(tasks, 2 * ways, 1, 6, 6, generator=g) + 2, torch.arange(ways).repeat(2).repeat(tasks, 1), ways,
    )


def test_per_step_batch_norm_keeps_affine_parameters_per_inner_step():
    learner = default_host().registry.create(
        "learner", {"maml": {"per_step_bn": True, "inner_steps": 2}}, backbone=ConvBN(), ways=3,
        registry=default_host().registry,
    )
    learner.meta_step(tiny_batch())
    weights = [learner.step_norms.tensors(step)["net.1.weight"] for step in range(3)]
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights)  # each step's set is meta-learned
    assert learner.backbone.net[1].weight.grad is None  # the shared layer is unused
    with torch.no_grad():
        weights[0].add_(1.0)
    exported = learner.export_predictor().learner.step_norms  # the predictor adapts with every step's set
    assert all(torch.equal(exported.tensors(step)["net.1.weight"], weights[step]) for step in range(3))


def test_gradient_learners_normalise_with_batch_statistics_in_training_and_evaluation():
    """Running averages do not describe adapted weights: eval-mode prediction must not use them."""
    learner = default_host().registry.create("learner", {"maml": {"inner_steps": 2}}, backbone=ConvBN(), ways=3, registry=default_host().registry)
    norm = learner.backbone.net[1]
    assert norm.running_mean is None and not norm.track_running_stats
    learner.meta_step(tiny_batch())
    episode = tiny_batch(tasks=1).episode(0)
    learner.train()
    in_training = learner.predict(episode)
    learner.eval()
    assert torch.allclose(learner.predict(episode), in_training)


def test_a_failing_compiler_falls_back_to_eager(monkeypatch, caplog):
    def broken_compile(fn):
        def fail(*args):
            raise RuntimeError("no compiler here")
        return fail

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(inner_loop_module, "_compiled", {})
    monkeypatch.setattr(inner_loop_module, "_compile_failure", [])
    learner = default_host().registry.create("learner", {"maml": {"compile": True}}, backbone=ConvBN(), ways=3, registry=default_host().registry)
    output = learner.meta_step(tiny_batch())
    assert output.loss > 0 and learner.backbone.net[0].weight.grad is not None
    assert "no compiler here" in caplog.text


@pytest.mark.parametrize(
    "learner, options",
    [("maml", {"inner_steps": 2, "head_init": "learned", "first_order": True}),
     ("maml", {"inner_steps": 2, "first_order": True, "inner_optimizer": "meta_sgd"}),
     ("anil", {"inner_steps": 2, "head_init": "learned"}),
     ("maml", {"inner_steps": 2, "head_init": "learned"})],  # runs the loop: see the next test
    ids=["fomaml", "fomaml-meta_sgd", "anil-second-order", "maml-second-order"],
)
def test_the_batched_vmap_path_computes_the_loops_losses_and_meta_gradients(learner, options):
    torch.manual_seed(0)
    loop = default_host().registry.create("learner", {learner: options}, backbone=ConvBN(), ways=3, registry=default_host().registry)
    batched = default_host().registry.create("learner", {learner: {**options, "batched": True}}, backbone=ConvBN(), ways=3, registry=default_host().registry)
    batched.load_state_dict(loop.state_dict())
    batch = tiny_batch(tasks=3)
    out_loop, out_batched = loop.meta_step(batch), batched.meta_step(batch)
    assert out_batched.loss == pytest.approx(out_loop.loss, rel=1e-5)
    assert out_batched.accuracy == pytest.approx(out_loop.accuracy)
    batched_params = dict(batched.named_parameters())
    for name, param in loop.named_parameters():
        torch.testing.assert_close(batched_params[name].grad, param.grad, atol=1e-5, rtol=1e-4)


def test_batched_refuses_per_step_batch_norm():
    with pytest.raises(RecipeError, match="batched: false"):
        default_host().registry.create("learner", {"maml": {"batched": True, "per_step_bn": True}}, backbone=ConvBN(), ways=3, registry=default_host().registry)


def test_batched_second_order_maml_through_batch_norm_runs_the_loop(monkeypatch):
    learner = default_host().registry.create("learner", {"maml": {"batched": True}}, backbone=ConvBN(), ways=3, registry=default_host().registry)
    assert learner._vmap_is_exact(first_order=True)
    assert not learner._vmap_is_exact(first_order=False)
    monkeypatch.setattr(learner, "_batched_task_losses", lambda *args: pytest.fail("vmap path taken"))
    learner.meta_step(tiny_batch())

"""Meta-regularizers: proximal (iMAML), MR-MAML, meta-gradient clipping, meta-weight decay."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from autometa.data import Preprocessing, TaskBatch
from autometa.errors import PluginError
from autometa.learning import build_learner
from autometa.plugins import default_host
from autometa.recipe import Strategy
from autometa_plugins.regularizers.mr_maml import StochasticConv2d, StochasticLinear, gaussian_kl


def build(name: str, **options):
    return default_host().registry.create("regularizer", {name: options})


class TinyLearner(nn.Module):
    """Just what regularizers touch: a backbone, a head, an inner optimizer, an exported predictor."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
        self.head = nn.Linear(5, 3)
        params = dict(self.named_parameters())
        self.inner_optimizer = default_host().registry.create("inner_optimizer", "mamlpp", params=params, steps=2, lr=0.1)

    def forward(self, x):
        return self.head(self.backbone(x))

    def export_predictor(self) -> nn.Module:
        return self.backbone  # shares modules, as a careless predictor might


def test_every_regularizer_is_registered_with_an_option_schema():
    for name in ("proximal", "mr_maml", "meta_grad_clip", "meta_weight_decay"):
        entry = default_host().registry.get("regularizer", name)
        schema = entry.cls.Options.model_json_schema()
        assert all("description" in field for field in schema["properties"].values())


# ------------------------------------------------------------------ proximal


def test_proximal_gradient_pulls_adapted_weights_toward_the_init_in_proportion_to_lambda():
    init = {"w": torch.randn(3, 4), "b": torch.randn(3)}
    adapted = {n: (t + torch.randn_like(t)).requires_grad_() for n, t in init.items()}
    grads = {}
    for strength in (0.5, 2.0):
        penalty = build("proximal", strength=strength).inner_penalty(adapted, init)
        grads[strength] = dict(zip(adapted, torch.autograd.grad(penalty, list(adapted.values()))))
    for name in init:
        offset = adapted[name].detach() - init[name]
        torch.testing.assert_close(grads[0.5][name], 0.5 * offset)
        torch.testing.assert_close(grads[2.0][name], 4 * grads[0.5][name])
        # a gradient step on the penalty moves the weights toward the initialisation
        stepped = adapted[name].detach() - 0.1 * grads[2.0][name]
        assert (stepped - init[name]).norm() < offset.norm()


def test_proximal_with_zero_strength_adds_nothing():
    init = {"w": torch.randn(2, 2)}
    assert build("proximal", strength=0.0).inner_penalty({"w": init["w"] + 1}, init).item() == 0.0


# ------------------------------------------------------------------ MR-MAML


def test_mr_maml_kl_is_zero_when_the_posterior_equals_the_prior():
    prior_std = 0.3
    mean = torch.zeros(5, 4)
    assert gaussian_kl(mean, torch.full_like(mean, torch.log(torch.tensor(prior_std)).item()), prior_std).abs() < 1e-6


def test_mr_maml_kl_matches_torch_distributions_otherwise():
    mean, log_std = torch.randn(6, 3), torch.randn(6, 3) * 0.5
    q = torch.distributions.Normal(mean, log_std.exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.full_like(mean, 0.7))
    expected = torch.distributions.kl_divergence(q, p).sum()
    torch.testing.assert_close(gaussian_kl(mean, log_std, 0.7), expected)
    assert expected > 0


def test_mr_maml_makes_chosen_layers_stochastic_and_penalises_them():
    learner = TinyLearner()
    x = torch.randn(2, 1, 4, 4)
    plain = copy.deepcopy(learner).eval()(x)
    regularizer = build("mr_maml", layers=["backbone.*"], beta=0.01, init_std=0.05)
    regularizer.attach(learner)
    assert isinstance(learner.backbone[0], StochasticConv2d)
    assert isinstance(learner.backbone[3], StochasticLinear)
    assert type(learner.head) is nn.Linear  # not chosen

    learner.train()
    first = learner(x)
    torch.testing.assert_close(learner(x), first)  # one weight sample per meta-step: support and query agree
    assert not torch.equal(first, plain)
    regularizer.before_update(learner)
    assert not torch.equal(learner(x), first)  # the next meta-step draws a new sample
    learner.eval()
    torch.testing.assert_close(learner(x), plain)  # posterior mean = the original weights

    penalty = regularizer.outer_penalty(learner)
    penalty.backward()
    assert learner.backbone[0].weight.grad is not None and learner.backbone[0].weight_log_std.grad is not None
    assert learner.head.weight.grad is None


def test_mr_maml_exports_plain_layers_without_touching_the_learner():
    learner = TinyLearner()
    regularizer = build("mr_maml")
    regularizer.attach(learner)
    predictor = regularizer.finish_predictor(learner.export_predictor())
    assert [type(m) for m in predictor.modules()][1:] == [nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear]
    assert not any("log_std" in name for name, _ in predictor.named_parameters())
    assert isinstance(learner.backbone[0], StochasticConv2d)


def test_mr_maml_names_the_problem_when_no_layer_matches():
    with pytest.raises(PluginError, match=r"no Conv2d or Linear layer .* matches.*layers: backbone.0, backbone.3, head\)"):
        build("mr_maml", layers=["encoder.*"]).attach(TinyLearner())


# ------------------------------------------------------------------ meta-gradient clipping and decay


def fill_grads(learner: nn.Module, value: float) -> None:
    for param in learner.parameters():
        param.grad = torch.full_like(param, value)


def test_meta_grad_clip_bounds_the_meta_gradient_norm():
    learner = TinyLearner()
    fill_grads(learner, 3.0)
    build("meta_grad_clip", max_norm=0.5).before_update(learner)
    total = torch.cat([p.grad.flatten() for p in learner.parameters()]).norm()
    torch.testing.assert_close(total, torch.tensor(0.5))


def test_meta_weight_decay_adds_strength_times_weight_to_network_weights_only():
    learner = TinyLearner()
    fill_grads(learner, 1.0)
    build("meta_weight_decay", strength=0.1).before_update(learner)
    conv = learner.backbone[0]
    torch.testing.assert_close(conv.weight.grad, 1.0 + 0.1 * conv.weight.detach())
    assert torch.equal(conv.bias.grad, torch.ones_like(conv.bias))  # 1-D: not decayed by default
    assert torch.equal(learner.inner_optimizer.rates.grad, torch.ones_like(learner.inner_optimizer.rates))

    fill_grads(learner, 1.0)
    build("meta_weight_decay", strength=0.1, decay_1d=True).before_update(learner)
    torch.testing.assert_close(conv.bias.grad, 1.0 + 0.1 * conv.bias.detach())


# ------------------------------------------------------------------ with real learners


def tiny_strategy(learner, regularizers) -> Strategy:
    return Strategy(
        learner=learner,
        backbone={"conv4": {"width": 4, "depth": 2}},
        train_episodes={"ways": 2, "shots": 1, "queries": 2},
        meta_batch_size=2,
        regularizers=regularizers,
    )


def tiny_batch() -> TaskBatch:
    generator = torch.Generator().manual_seed(0)
    return TaskBatch(
        support_x=torch.rand(2, 2, 1, 8, 8, generator=generator),
        support_y=torch.tensor([[0, 1], [0, 1]]),
        query_x=torch.rand(2, 4, 1, 8, 8, generator=generator),
        query_y=torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1]]),
        ways=2,
    )


@pytest.mark.parametrize("learner", ["protonet", "maml", "anil"])
def test_mr_maml_trains_and_checkpoints_through_a_real_learner(learner):
    preprocessing = Preprocessing(channels=1, image_size=8)
    strategy = tiny_strategy(learner, [{"mr_maml": {"beta": 1.0}}, "meta_weight_decay", "meta_grad_clip"])
    torch.manual_seed(0)
    trained = build_learner(strategy, preprocessing, default_host().registry)
    stochastic = [m for m in trained.modules() if isinstance(m, StochasticConv2d)]
    assert stochastic
    trained.meta_step(tiny_batch())
    for regularizer in trained.regularizers:
        regularizer.before_update(trained)
    # the KL term reaches the posterior scales through the learner's meta-loss
    assert all(m.weight_log_std.grad is not None and m.weight_log_std.grad.abs().sum() > 0 for m in stochastic)

    rebuilt = build_learner(strategy, preprocessing, default_host().registry)  # what loading a checkpoint does
    rebuilt.load_state_dict(trained.state_dict())
    episode = tiny_batch().episode(0)
    trained.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt.predict(episode), trained.predict(episode))


def adapted_names(strategy: Strategy) -> set[str]:
    learner = build_learner(strategy, Preprocessing(channels=1, image_size=8), default_host().registry)
    episode = tiny_batch().episode(0)
    adapted, _ = learner.adapt(episode.support_x, episode.support_y, episode.ways, first_order=True)
    return set(adapted)


def test_mr_maml_keeps_its_stochastic_layers_out_of_the_inner_loop():
    plain = adapted_names(tiny_strategy("maml", []))
    meta_only = adapted_names(tiny_strategy("maml", [{"mr_maml": {"layers": ["backbone.features.0.0"]}}]))
    adapting = adapted_names(tiny_strategy("maml", [{"mr_maml": {"layers": ["backbone.features.0.0"],
                                                                  "adapt_stochastic": True}}]))
    first_conv = {"backbone.features.0.0.weight", "backbone.features.0.0.bias"}
    assert first_conv and "head.weight" in meta_only
    assert meta_only == plain - first_conv  # MR-MAML(W): the bottlenecked weights are meta-parameters only
    assert adapting == plain | {"backbone.features.0.0.weight_log_std"}


def test_mr_maml_deployable_predictor_of_a_real_learner_has_plain_layers():
    learner = build_learner(tiny_strategy("maml", ["mr_maml"]), Preprocessing(channels=1, image_size=8), default_host().registry)
    predictor = learner.deployable_predictor()
    assert not any(isinstance(m, StochasticConv2d) for m in predictor.modules())
    assert any(isinstance(m, StochasticConv2d) for m in learner.modules())
    episode = tiny_batch().episode(0)
    onehot = torch.nn.functional.one_hot(episode.support_y, episode.ways).float()
    learner.eval()
    assert predictor(episode.support_x, onehot, episode.query_x).shape == (4, 2)


def test_mr_maml_can_make_a_learned_head_init_stochastic_and_it_is_still_adapted():
    """The head init is the one part of classic MAML that can hold a fixed label assignment."""
    strategy = tiny_strategy({"maml": {"head_init": "learned"}}, [{"mr_maml": {"layers": ["head"], "beta": 0.0}}])
    learner = build_learner(strategy, Preprocessing(channels=1, image_size=8), default_host().registry)
    assert isinstance(learner.head, StochasticLinear)
    assert not any(isinstance(m, StochasticConv2d) for m in learner.modules())
    assert {"head.weight", "head.bias"} <= adapted_names(strategy)  # the task's classifier is always adapted

    episode = tiny_batch().episode(0)
    learner.train()
    first = learner.predict(episode)
    torch.testing.assert_close(learner.predict(episode), first)  # one sample per meta-step
    learner.regularizers[0].before_update(learner)
    assert not torch.equal(learner.predict(episode), first)

    learner.meta_step(tiny_batch())  # beta 0: only the task loss reaches the head's posterior scale
    assert learner.head.weight_log_std.grad is not None and learner.head.weight_log_std.grad.abs().sum() > 0


def test_mr_maml_stochastic_head_deploys_its_posterior_mean():
    strategy = tiny_strategy({"anil": {"head_init": "learned"}}, [{"mr_maml": {"layers": ["head"]}}])
    learner = build_learner(strategy, Preprocessing(channels=1, image_size=8), default_host().registry)
    with torch.no_grad():
        learner.head.weight.normal_()  # a head init far from zero, so a wrong head would show
    predictor = learner.deployable_predictor()
    assert not any(isinstance(m, StochasticLinear) for m in predictor.modules())
    episode = tiny_batch().episode(0)
    onehot = torch.nn.functional.one_hot(episode.support_y, episode.ways).float()
    learner.eval()
    torch.testing.assert_close(predictor(episode.support_x, onehot, episode.query_x), learner.predict(episode))

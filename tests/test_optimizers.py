"""The learned inner optimizers: MAML++ per-layer per-step rates and the coordinate-wise learned rule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import yaml
from test_regularizers import tiny_batch, tiny_strategy  # the tiny task shared by both files
from torch import nn
from torch.func import functional_call

from autometa.authoring import testing
from autometa.data import Preprocessing
from autometa.errors import PluginError, RecipeError
from autometa.learning import build_learner
from autometa.plugins import default_host
from autometa.recipe import FixedSuggester, parse_recipe


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def tiny_task(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(12, 4, generator=generator), torch.arange(12) % 3


def build(name: str, model: nn.Module, steps: int = 3, lr: float = 0.1, **options) -> nn.Module:
    params = dict(model.named_parameters())
    return default_host().registry.create("inner_optimizer", {name: options}, params=params, steps=steps, lr=lr)


def adapt(model: nn.Module, optimizer: nn.Module, steps: int, x: torch.Tensor, y: torch.Tensor) -> dict:
    """A second-order functional inner loop, as gradient learners run it."""
    params = dict(model.named_parameters())
    state = optimizer.init_state(params)
    for step in range(steps):
        loss = F.cross_entropy(functional_call(model, params, (x,)), y)
        grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()), create_graph=True)))
        params, state = optimizer.step(params, grads, step, state)
    return params


def test_both_rules_are_registered_with_option_schemas():
    registry = default_host().registry
    for name in ("mamlpp", "learned"):
        entry = registry.get("inner_optimizer", name)
        schema = entry.cls.Options.model_json_schema()
        assert all("description" in field for field in schema["properties"].values())
        assert entry.description


# ------------------------------------------------------------------ MAML++ (mamlpp)


def test_mamlpp_with_zero_learning_rates_leaves_weights_unchanged():
    model = tiny_model()
    optimizer = build("mamlpp", model, init_lr=0.0)
    adapted = adapt(model, optimizer, 3, *tiny_task())
    for name, param in model.named_parameters():
        assert torch.equal(adapted[name], param)


def test_mamlpp_rates_are_per_layer_and_per_step():
    model = tiny_model()
    optimizer = build("mamlpp", model, steps=2, lr=0.5)
    assert optimizer.rates.shape == (2, 4)
    with torch.no_grad():
        optimizer.rates[1, optimizer.layer_index["2.weight"]] = 0.0
    x, y = tiny_task()
    one_step = adapt(model, optimizer, 1, x, y)
    two_steps = adapt(model, optimizer, 2, x, y)
    assert torch.equal(one_step["2.weight"], two_steps["2.weight"])  # frozen at step 1 only
    assert not torch.equal(one_step["0.weight"], two_steps["0.weight"])
    assert not torch.equal(one_step["2.weight"], model.get_parameter("2.weight"))
    # more steps than it was built for reuse the last step's rates (still frozen for 2.weight)
    assert torch.equal(adapt(model, optimizer, 4, x, y)["2.weight"], one_step["2.weight"])


def test_mamlpp_rates_receive_meta_gradients_for_every_layer_and_step():
    model = tiny_model()
    optimizer = build("mamlpp", model, steps=2, lr=0.1)
    x, y = tiny_task()
    adapted = adapt(model, optimizer, 2, x, y)
    query_x, query_y = tiny_task(seed=2)
    F.cross_entropy(functional_call(model, adapted, (query_x,)), query_y).backward()
    assert optimizer.rates.grad is not None
    assert (optimizer.rates.grad != 0).all()


def test_mamlpp_learn_false_fixes_the_rates():
    optimizer = build("mamlpp", tiny_model(), learn=False)
    assert not optimizer.rates.requires_grad


# ------------------------------------------------------------------ learned rule


def test_learned_rule_starts_as_plain_sgd():
    model = tiny_model()
    x, y = tiny_task()
    learned = adapt(model, build("learned", model, lr=0.1), 2, x, y)
    sgd = adapt(model, build("mamlpp", model, lr=0.1, learn=False), 2, x, y)
    for name in sgd:
        torch.testing.assert_close(learned[name], sgd[name])


@pytest.mark.parametrize("network", ["mlp", "lstm"])
def test_learned_update_is_bounded_whatever_the_network_weights(network):
    model = tiny_model()
    optimizer = build("learned", model, lr=0.1, network=network, bound=0.5, grad_clip=1.0)
    with torch.no_grad():
        for param in optimizer.parameters():
            param.normal_(0, 50.0)  # a wildly mis-trained rule
    params = dict(model.named_parameters())
    grads = {n: torch.randn_like(p) * 1e4 for n, p in params.items()}
    updated, _ = optimizer.step(params, grads, 0, optimizer.init_state(params))
    for name, param in params.items():
        clipped = grads[name].clamp(-1.0, 1.0)
        limit = 0.1 * (1.0 + 0.5 * clipped.pow(2).mean().sqrt())
        assert ((updated[name] - param).abs() <= limit + 1e-6).all()
        assert torch.isfinite(updated[name]).all()


@pytest.mark.parametrize("network", ["mlp", "lstm"])
def test_learned_rule_parameters_receive_meta_gradients_and_change_during_meta_training(network):
    model = tiny_model()
    optimizer = build("learned", model, steps=2, lr=0.1, network=network, hidden=8)
    before = {n: p.detach().clone() for n, p in optimizer.named_parameters()}
    meta = torch.optim.Adam(optimizer.parameters(), lr=1e-2)
    first_grads = None
    for outer in range(2):
        x, y = tiny_task(seed=outer)
        adapted = adapt(model, optimizer, 2, x, y)
        query_x, query_y = tiny_task(seed=100 + outer)
        meta.zero_grad()
        F.cross_entropy(functional_call(model, adapted, (query_x,)), query_y).backward()
        first_grads = first_grads or {n: p.grad.abs().sum().item() for n, p in optimizer.named_parameters()}
        meta.step()
    # zero-initialised output layer: it gets the meta-gradient at once, the rest through it
    assert first_grads["out.weight"] > 0 and first_grads["out.bias"] > 0
    for name, param in optimizer.named_parameters():
        assert not torch.equal(param, before[name]), f"{name} did not change"


def test_learned_rule_is_saved_in_a_checkpoint_and_loads_into_a_later_recipe(tmp_path):
    model = tiny_model()
    trained = build("learned", model, network="lstm", hidden=8)
    with torch.no_grad():
        for param in trained.parameters():
            param.normal_()
    learner = nn.Module()
    learner.inner_optimizer = trained
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"step": 10, "learner": learner.state_dict()}, checkpoint)  # nested, as a trainer saves it

    reused = build("learned", model, network="lstm", hidden=8, load=checkpoint, freeze=True)
    for (name, a), b in zip(trained.state_dict().items(), reused.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), name
    assert not any(p.requires_grad for p in reused.parameters())


def test_learned_rule_load_mismatch_is_a_clear_error(tmp_path):
    model = tiny_model()
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"model": {f"inner.{k}": v for k, v in build("learned", model, hidden=8).state_dict().items()}},
               checkpoint)
    with pytest.raises(PluginError, match="network.*lstm.*same 'network' and 'hidden'"):
        build("learned", model, network="lstm", hidden=8, load=checkpoint)
    with pytest.raises(PluginError, match="hidden"):
        build("learned", model, hidden=16, load=checkpoint)
    torch.save({"weights": {"head.weight": torch.zeros(3, 3)}}, tmp_path / "other.pt")
    with pytest.raises(PluginError, match="holds no learned inner optimizer"):
        build("learned", model, load=tmp_path / "other.pt")
    with pytest.raises(PluginError, match="not found"):
        build("learned", model, load=tmp_path / "missing.pt")


# ------------------------------------------------------------------ recipes


SEARCH_SPACE = {
    "maml": {
        "inner_steps": {"int": [1, 3]},
        "inner_optimizer": {
            "choice": {
                "sgd": {},
                "mamlpp": {"init_lr": {"log_uniform": [0.01, 1.0]}},
                "learned": {"network": {"choice": ["mlp", "lstm"]}, "hidden": {"choice": [8, 16]}},
            }
        },
    }
}
REGULARIZERS = [
    {
        "choice": {
            "proximal": {"strength": {"log_uniform": [0.01, 10.0]}},
            "mr_maml": {"beta": {"log_uniform": [1e-6, 1e-2]}, "layers": ["backbone.*"]},
            "meta_grad_clip": {"max_norm": {"uniform": [1.0, 10.0]}},
            "meta_weight_decay": {"strength": {"log_uniform": [1e-6, 1e-3]}},
        }
    }
]


@pytest.fixture
def tiny_data_plugin():
    default_host().register(testing, testing.TESTING_PLUGIN)
    yield
    default_host().unregister(testing.TESTING_PLUGIN)


def recipe_text(learner, regularizers) -> str:
    recipe = testing.tiny_recipe()
    recipe["strategy"]["learner"] = learner
    recipe["strategy"]["regularizers"] = regularizers
    return yaml.safe_dump(recipe, sort_keys=False)


def test_a_recipe_searching_over_inner_optimizers_and_regularizers_validates_and_resolves(tiny_data_plugin):
    recipe = parse_recipe(recipe_text(SEARCH_SPACE, REGULARIZERS), default_host().registry)
    params = {
        "learner.maml.inner_steps": 3,
        "learner.maml.inner_optimizer": "learned",
        "learner.maml.inner_optimizer.learned.network": "lstm",
        "learner.maml.inner_optimizer.learned.hidden": 8,
        "regularizers.0": "mr_maml",
        "regularizers.0.mr_maml.beta": 1e-4,
    }
    strategy = recipe.strategy_for(FixedSuggester(params))
    assert strategy.learner.options["inner_optimizer"] == {"learned": {"network": "lstm", "hidden": 8}}
    assert strategy.regularizers[0].to_data() == {"mr_maml": {"beta": 1e-4, "layers": ["backbone.*"]}}


@pytest.mark.parametrize("bad, message", [
    ({"learned": {"network": "gru"}}, "inner_optimizer.learned.network"),
    ({"mamlpp": {"init_lr": -1.0}}, "inner_optimizer.mamlpp.init_lr"),
])
def test_a_bad_inner_optimizer_option_is_a_recipe_error_naming_its_path(tiny_data_plugin, bad, message):
    with pytest.raises(RecipeError, match=message.replace(".", r"\.")):
        parse_recipe(recipe_text({"maml": {"inner_optimizer": bad}}, []), default_host().registry)


# ------------------------------------------------------------------ inside real gradient learners


def gradient_learner(learner: str, rule, inner_steps: int = 2) -> nn.Module:
    strategy = tiny_strategy({learner: {"inner_steps": inner_steps, "inner_optimizer": rule}}, [])
    torch.manual_seed(0)
    return build_learner(strategy, Preprocessing(channels=1, image_size=8), default_host().registry)


def test_learned_rule_meta_trains_inside_maml():
    learner = gradient_learner("maml", {"learned": {"hidden": 4}}, inner_steps=1)
    rule = learner.inner_optimizer
    before = {n: p.detach().clone() for n, p in rule.named_parameters()}
    meta = torch.optim.Adam(learner.parameters(), lr=1e-2)
    for _ in range(2):  # the zero-initialised output layer moves first, the rest on the next step
        meta.zero_grad()
        learner.meta_step(tiny_batch())
        meta.step()
    for name, param in rule.named_parameters():
        assert not torch.equal(param, before[name]), f"{name} did not change"


def test_anil_exported_predictor_takes_the_mamlpp_rates():
    learner = gradient_learner("anil", "mamlpp", inner_steps=2).eval()
    with torch.no_grad():
        learner.inner_optimizer.rates.copy_(torch.tensor([[0.3, 0.7], [1.1, 0.2]]))
    episode = tiny_batch().episode(0)
    onehot = F.one_hot(episode.support_y, episode.ways).float()
    with torch.no_grad():
        exported = learner.export_predictor()(episode.support_x, onehot, episode.query_x)
    torch.testing.assert_close(exported, learner.predict(episode))

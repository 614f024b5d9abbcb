"""Metric and amortized learners: exact logits, predictor parity, torch.export, and that they learn."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autometa import Backbone
from autometa.data import Episode, TaskBatch
from autometa.plugins import default_host

LEARNERS = [
    "protonet",
    {"protonet": {"distance": "cosine", "learn_temperature": True}},
    "matching",
    "siamese",
    {"siamese": {"hidden": 16, "aggregate": "max", "loss": "cross_entropy"}},
    "task_conditioned",
    {"task_conditioned": {"classifier": "linear", "code_size": 8, "hidden": 16}},
    {"finetune": {"steps": 3}},
]
IDS = [
    "protonet", "protonet-cosine", "matching", "siamese", "siamese-mlp-max", "task_conditioned",
    "task_conditioned-linear", "finetune",
]
IMAGE = (1, 12, 12)


class Identity(Backbone):
    """Flattens the image: features are the pixels, so logits can be checked by hand."""

    name = "identity"

    def __init__(self, features: int):
        nn.Module.__init__(self)
        self.out_features = features

    def forward(self, images):
        return images.flatten(1)


class TinyMLP(Backbone):
    """A two-layer perceptron: enough to learn the synthetic task, fast to train and to export."""

    name = "tiny_mlp"

    def __init__(self, features: int = 16):
        nn.Module.__init__(self)
        self.out_features = features
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(IMAGE[1] * IMAGE[2], 32), nn.ReLU(), nn.Linear(32, features))

    def forward(self, images):
        return self.net(images)


def conv4() -> Backbone:
    return default_host().registry.create("backbone", {"conv4": {"width": 8, "depth": 3}}, in_channels=1, image_size=IMAGE[1])


def build(ref, backbone: nn.Module | None = None, ways: int = 3):
    backbone = backbone or TinyMLP()
    return default_host().registry.create("learner", ref, backbone=backbone, ways=ways, registry=default_host().registry)


def random_episode(ways: int, shots: int, queries: int, seed: int = 0) -> Episode:
    g = torch.Generator().manual_seed(seed)
    support_y = torch.arange(ways).repeat_interleave(shots)
    query_y = torch.arange(ways).repeat_interleave(queries)
    return Episode(
        torch.rand(ways * shots, *IMAGE, generator=g), support_y,
        torch.rand(ways * queries, *IMAGE, generator=g), query_y, ways,
    )


def test_protonet_logits_are_negative_squared_distances_to_class_means():
    learner = build("protonet", backbone=Identity(2), ways=2)
    support = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]]).view(3, 1, 1, 2)
    support_y = torch.tensor([0, 0, 1])  # class 0 mean (1, 0); class 1 mean (0, 3)
    query = torch.tensor([[1.0, 1.0], [0.0, 2.0]]).view(2, 1, 1, 2)
    episode = Episode(support, support_y, query, torch.tensor([0, 1]), ways=2)
    expected = -torch.tensor([[0.0 + 1.0, 1.0 + 4.0], [1.0 + 4.0, 0.0 + 1.0]])
    torch.testing.assert_close(learner.predict(episode), expected)


def test_protonet_cosine_and_temperature_scale_the_logits():
    episode = Episode(
        torch.tensor([[3.0, 0.0], [0.0, 1.0]]).view(2, 1, 1, 2), torch.tensor([0, 1]),
        torch.tensor([[1.0, 1.0]]).view(1, 1, 1, 2), torch.tensor([0]), ways=2,
    )
    learner = build({"protonet": {"distance": "cosine", "temperature": 0.5}}, backbone=Identity(2), ways=2)
    cos = 1 / 2**0.5
    torch.testing.assert_close(learner.predict(episode), torch.tensor([[cos / 0.5, cos / 0.5]]))


def test_matching_logits_are_log_attention_mass_per_class():
    learner = build({"matching": {"temperature": 1.0}}, backbone=Identity(2), ways=2)
    support = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]).view(3, 1, 1, 2)
    episode = Episode(support, torch.tensor([0, 1, 0]), torch.tensor([[1.0, 0.0]]).view(1, 1, 1, 2), torch.tensor([0]), 2)
    attention = torch.softmax(torch.tensor([1.0, 0.0, -1.0]), 0)  # cosines of the query with each support
    expected_probabilities = torch.stack([attention[0] + attention[2], attention[1]])
    torch.testing.assert_close(learner.predict(episode).log_softmax(-1)[0], expected_probabilities.log())


def test_siamese_max_rule_picks_the_closest_support_image():
    learner = build({"siamese": {"aggregate": "max"}}, backbone=Identity(2), ways=2)
    with torch.no_grad():  # score = -(L1 distance): higher for closer pairs
        learner.head.scorer.weight.fill_(-1.0)
        learner.head.scorer.bias.zero_()
    support = torch.tensor([[0.0, 0.0], [5.0, 5.0], [1.0, 1.0]]).view(3, 1, 1, 2)
    episode = Episode(support, torch.tensor([0, 0, 1]), torch.tensor([[4.0, 4.0]]).view(1, 1, 1, 2), torch.tensor([0]), 2)
    torch.testing.assert_close(learner.predict(episode), torch.tensor([[-2.0, -6.0]]))


@pytest.mark.parametrize("ref", LEARNERS, ids=IDS)
def test_predict_equals_the_exported_predictor(ref):
    learner = build(ref, backbone=conv4()).eval()
    episode = random_episode(ways=4, shots=2, queries=3)
    predictor = learner.export_predictor()
    onehot = F.one_hot(episode.support_y, episode.ways).float()
    with torch.no_grad():
        expected = learner.predict(episode)
        got = predictor(episode.support_x, onehot, episode.query_x)
    assert got.shape == (12, 4)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert predictor.backbone is not learner.backbone  # pruning the predictor leaves the learner intact


# One export per head code path beyond the conv4 ProtoNet one below (exports are the slow tests).
@pytest.mark.parametrize("ref", [LEARNERS[i] for i in (1, 2, 4, 6)], ids=[IDS[i] for i in (1, 2, 4, 6)])
def test_torch_export_with_dynamic_ways_shots_and_queries(ref):
    learner = build(ref).eval()
    predictor = learner.export_predictor()
    n, s, q = torch.export.Dim("n", min=2), torch.export.Dim("s", min=2), torch.export.Dim("q", min=1)
    example = random_episode(ways=3, shots=2, queries=3)
    inputs = (example.support_x, F.one_hot(example.support_y, 3).float(), example.query_x)
    program = torch.export.export(predictor, inputs, dynamic_shapes=({0: s}, {0: s, 1: n}, {0: q}))
    for ways, shots, queries in [(5, 1, 4), (7, 3, 2)]:
        episode = random_episode(ways, shots, queries, seed=ways)
        args = (episode.support_x, F.one_hot(episode.support_y, ways).float(), episode.query_x)
        with torch.no_grad():
            expected = predictor(*args)
        got = program.module()(*args)
        assert got.shape == (ways * queries, ways)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def separable_batch(generator: torch.Generator, tasks: int = 4, ways: int = 3, shots: int = 2, queries: int = 4) -> TaskBatch:
    """Each task draws `ways` of 8 fixed class templates (in a random label order) plus noise."""
    templates = torch.rand(8, *IMAGE, generator=torch.Generator().manual_seed(123))
    classes = torch.stack([torch.randperm(8, generator=generator)[:ways] for _ in range(tasks)])  # [B, N]

    def draw(per_class: int):
        labels = torch.arange(ways).repeat_interleave(per_class).expand(tasks, -1)  # [B, N*k]
        images = templates[classes.gather(1, labels)]
        return images + 0.3 * torch.randn(images.shape, generator=generator), labels

    support_x, support_y = draw(shots)
    query_x, query_y = draw(queries)
    return TaskBatch(support_x, support_y, query_x, query_y, ways)


@pytest.mark.parametrize("ref", LEARNERS, ids=IDS)
def test_meta_training_decreases_the_loss(ref):
    torch.manual_seed(0)
    learner = build(ref).train()
    optimizer = torch.optim.Adam(learner.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    outputs = []
    for _ in range(30):
        optimizer.zero_grad()
        outputs.append(learner.meta_step(separable_batch(generator)))
        optimizer.step()
    first, last = (sum(o.loss for o in part) / 5 for part in (outputs[:5], outputs[-5:]))
    assert last < 0.8 * first, f"loss {first:.3f} -> {last:.3f}"
    assert sum(o.accuracy for o in outputs[-5:]) / 5 > 0.85  # chance is 1/3


@pytest.mark.parametrize("ref", ["protonet", "matching", "siamese", "task_conditioned"])
def test_meta_step_backpropagates_into_backbone_and_head(ref):
    learner = build(ref).train()
    output = learner.meta_step(separable_batch(torch.Generator().manual_seed(1)))
    assert 0.0 <= output.accuracy <= 1.0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in learner.parameters())
    assert any(p.grad.abs().sum() > 0 for p in learner.backbone.parameters())


def test_a_conv4_predictor_exports_with_dynamic_shapes():
    predictor = build("protonet", backbone=conv4()).eval().export_predictor()
    s, n, q = torch.export.Dim("s", min=2), torch.export.Dim("n", min=2), torch.export.Dim("q", min=1)
    example = random_episode(ways=3, shots=2, queries=3)
    inputs = (example.support_x, F.one_hot(example.support_y, 3).float(), example.query_x)
    program = torch.export.export(predictor, inputs, dynamic_shapes=({0: s}, {0: s, 1: n}, {0: q}))
    episode = random_episode(ways=6, shots=2, queries=5, seed=3)
    args = (episode.support_x, F.one_hot(episode.support_y, 6).float(), episode.query_x)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(*args), predictor(*args), atol=1e-5, rtol=1e-5)


def test_evaluation_ways_may_differ_from_training_ways():
    learner = build("task_conditioned", ways=3).eval()
    logits = learner.predict(random_episode(ways=7, shots=1, queries=2))
    assert logits.shape == (14, 7)


def test_under_bf16_autocast_the_head_still_scores_in_float32():
    learner = build("protonet", backbone=conv4()).train()
    batch = separable_batch(torch.Generator().manual_seed(2))
    seen = []
    learner.head.register_forward_hook(lambda module, args, output: seen.append((args[0].dtype, output.dtype)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = learner.meta_step(batch)
    assert seen == [(torch.float32, torch.float32)]
    assert torch.isfinite(torch.tensor(output.loss))

"""The deployable predictor of gradient-based learners: parity with predict, and torch.export."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autometa.data import Episode, TaskBatch
from autometa.plugins import default_host

IMAGE = (1, 12, 12)


def trained_learner(ref, ways: int = 3):
    """A conv4 (with batch norm) learner after two meta-steps, so its statistics are not the defaults."""
    torch.manual_seed(0)
    registry = default_host().registry
    backbone = registry.create("backbone", {"conv4": {"width": 8, "depth": 2}}, in_channels=1, image_size=IMAGE[1])
    learner = registry.create("learner", ref, backbone=backbone, ways=ways, registry=registry)
    optimizer = torch.optim.Adam(learner.parameters(), lr=0.01)
    for seed in range(2):
        e = random_episode(ways, shots=1, queries=2, seed=seed)
        batch = TaskBatch(e.support_x[None], e.support_y[None], e.query_x[None], e.query_y[None], ways)
        optimizer.zero_grad()
        learner.meta_step(batch)
        optimizer.step()
    return learner.eval()


def random_episode(ways: int, shots: int, queries: int, seed: int = 0) -> Episode:
    g = torch.Generator().manual_seed(seed)
    return Episode(
        torch.rand(ways * shots, *IMAGE, generator=g), torch.arange(ways).repeat_interleave(shots),
        torch.rand(ways * queries, *IMAGE, generator=g), torch.arange(ways).repeat_interleave(queries), ways,
    )


def predictor_logits(predictor, episode: Episode) -> torch.Tensor:
    with torch.no_grad():
        return predictor(episode.support_x, F.one_hot(episode.support_y, episode.ways).float(), episode.query_x)


@pytest.mark.parametrize(
    "ref, ways",
    [({"anil": {"inner_steps": 3}}, 5), ({"anil": {"inner_steps": 2, "inner_optimizer": "meta_sgd"}}, 4),
     ({"anil": {"inner_steps": 2, "head_init": "learned"}}, 3)],
    ids=["anil-sgd-other-ways", "anil-meta_sgd", "anil-learned-head"],
)
def test_the_anil_predictor_computes_exactly_what_predict_does(ref, ways):
    learner = trained_learner(ref)
    predictor = learner.export_predictor()
    episode = random_episode(ways, shots=2, queries=3, seed=7)
    torch.testing.assert_close(predictor_logits(predictor, episode), learner.predict(episode), atol=1e-5, rtol=1e-5)
    assert predictor.backbone is not learner.backbone  # pruning the predictor leaves the learner intact


def test_the_maml_predictor_adapts_the_head_as_maml_does():
    # From a zero head, the first inner step leaves the body still (its gradient flows through
    # the zero head), so one-step MAML and its head-only predictor agree exactly; with more
    # steps MAML also adapts the body and the predictor stays close (within 20%: batch
    # statistics make the body's adaptation show in every normalised feature).
    one_step = trained_learner("maml")
    episode = random_episode(3, shots=1, queries=4, seed=3)
    torch.testing.assert_close(
        predictor_logits(one_step.export_predictor(), episode), one_step.predict(episode), atol=1e-5, rtol=1e-5
    )
    two_steps = trained_learner({"maml": {"inner_steps": 2, "inner_lr": 0.1}})
    expected, got = two_steps.predict(episode), predictor_logits(two_steps.export_predictor(), episode)
    assert (got - expected).norm() < 0.2 * expected.norm()
    assert torch.equal(got.argmax(1), expected.argmax(1))


def test_torch_export_with_dynamic_ways_shots_and_queries():
    learner = trained_learner({"metasgd": {"inner_steps": 2}})
    predictor = learner.export_predictor()
    s, n, q = torch.export.Dim("s", min=2), torch.export.Dim("n", min=2), torch.export.Dim("q", min=1)
    example = random_episode(3, shots=2, queries=3)
    inputs = (example.support_x, F.one_hot(example.support_y, 3).float(), example.query_x)
    program = torch.export.export(predictor, inputs, dynamic_shapes=({0: s}, {0: s, 1: n}, {0: q}))
    for ways, shots, queries in [(5, 1, 4), (20, 1, 1)]:
        episode = random_episode(ways, shots, queries, seed=ways)
        args = (episode.support_x, F.one_hot(episode.support_y, ways).float(), episode.query_x)
        got = program.module()(*args)
        assert got.shape == (ways * queries, ways)
        torch.testing.assert_close(got, predictor_logits(predictor, episode), atol=1e-5, rtol=1e-5)

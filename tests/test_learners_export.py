"""What ships is what was scored: every built-in learner's exported .pt2 and ONNX logits equal its ``predict``'s.

Each learner is meta-trained for two steps on random 16-pixel images (so its
rates, heads and learned optimizers are off their initial values), exported once
with both built-in exporters, and compared with ``learner.predict`` on episodes
of sizes the export was not traced with: one shot, Q < N, S == N, more ways.
Gradient learners adapt the whole network at inference (MAML, Meta-SGD, MAML++,
learned inner optimizers), ANIL the head; regularizers' inner penalties and
MR-MAML's deterministic posterior mean are part of what is compared.
"""

from __future__ import annotations

import pytest
import torch

from autometa.data import Episode, TaskBatch
from autometa.deploy import ExportReport, ModelCard, describe_predictor, export_and_verify
from autometa.learning import AdaptationPredictor
from autometa.plugins import default_host

IMAGE = (1, 16, 16)
TRAIN_WAYS = 3
#: |exported - predict| <= 1e-4 + 1e-4 |predict|: tighter than the exporters' own verification.
TOLERANCE = {"atol": 1e-4, "rtol": 1e-4}
#: (ways, shots, queries per class): none is the traced episode's size.
EPISODES = [(5, 1, 3), (2, 3, 1), (3, 2, 2)]
STATIC_WAYS_EPISODES = [(TRAIN_WAYS, 1, 3), (TRAIN_WAYS, 3, 1)]

CASES = {
    # learner reference, regularizers, whether N stays dynamic
    "maml": ({"maml": {"inner_steps": 2, "inner_lr": 0.1}}, [], True),
    "maml-classic-head-mr_maml": (
        {"maml": {"inner_steps": 1, "head_init": "learned"}}, [{"mr_maml": {"layers": ["head"]}}], False,
    ),
    "metasgd": ({"metasgd": {"inner_steps": 2}}, [], True),
    "maml-mamlpp-per_step_bn-proximal": (
        {"maml": {"inner_steps": 2, "inner_optimizer": "mamlpp", "per_step_bn": True}}, [{"proximal": {}}], True,
    ),
    "maml-learned-mlp": ({"maml": {"inner_steps": 2, "inner_optimizer": "learned"}}, [], True),
    "maml-learned-lstm": ({"maml": {"inner_steps": 1, "inner_optimizer": {"learned": {"network": "lstm"}}}}, [], False),
    "anil-meta_sgd": ({"anil": {"inner_steps": 2, "inner_optimizer": "meta_sgd"}}, [], True),
    "reptile": ({"reptile": {"inner_steps": 1}}, [], True),
    "protonet": ("protonet", [], True),
    "matching": ("matching", [], True),
    "siamese": ("siamese", [], True),
    "task_conditioned": ("task_conditioned", [], True),
}


def trained_learner(ref, regularizers=(), ways: int = TRAIN_WAYS):
    """A learner on a small conv4 (batch norm included) after two meta-steps."""
    torch.manual_seed(0)
    registry = default_host().registry
    backbone = registry.create("backbone", {"conv4": {"width": 8, "depth": 2}}, in_channels=1, image_size=IMAGE[1])
    learner = registry.create(
        "learner", ref, backbone=backbone, ways=ways, registry=registry,
        regularizers=[registry.create("regularizer", r) for r in regularizers],
    )
    optimizer = torch.optim.Adam(learner.parameters(), lr=0.01)
    for seed in range(2):
        e = random_episode(ways, shots=1, queries=2, seed=seed)
        optimizer.zero_grad()
        learner.meta_step(TaskBatch(e.support_x[None], e.support_y[None], e.query_x[None], e.query_y[None], ways))
        for regularizer in learner.regularizers:
            regularizer.before_update(learner)
        optimizer.step()
    return learner.eval()


def random_episode(ways: int, shots: int, queries: int, seed: int = 0) -> Episode:
    """Random images, classes in a random label order."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(ways, generator=g)
    return Episode(
        torch.rand(ways * shots, *IMAGE, generator=g), order.repeat_interleave(shots),
        torch.rand(ways * queries, *IMAGE, generator=g), order.repeat_interleave(queries), ways,
    )


@pytest.fixture(scope="module")
def exporters():
    return [default_host().registry.create("exporter", name) for name in ("torch_export", "onnx")]


@pytest.mark.parametrize("case", list(CASES))
def test_exported_logits_equal_predict(case, exporters, tmp_path):
    ref, regularizers, dynamic_ways = CASES[case]
    learner = trained_learner(ref, regularizers)
    predictor = learner.deployable_predictor()
    traced_on = random_episode(TRAIN_WAYS, shots=2, queries=2, seed=99)
    reports = export_and_verify(predictor, exporters, tmp_path, [traced_on], fresh_process=False)
    assert [r.dynamic_sizes for r in reports] == [
        "S, Q and N dynamic" if dynamic_ways else f"S and Q dynamic, N = {TRAIN_WAYS}"
    ] * 2
    for exporter in exporters:
        loaded = exporter.load(tmp_path / f"predictor{exporter.suffix}")
        for ways, shots, queries in EPISODES if dynamic_ways else STATIC_WAYS_EPISODES:
            episode = random_episode(ways, shots, queries, seed=10 * ways + shots)
            expected = learner.predict(episode)
            with torch.no_grad():
                got = loaded(*episode.predictor_inputs())
            torch.testing.assert_close(
                got, expected, **TOLERANCE, msg=lambda m: f"{case} {exporter.name} {(ways, shots, queries)}: {m}"
            )


def test_the_whole_network_is_adapted():
    """With two inner steps the body's adaptation changes the logits (a head-only predictor would
    differ from predict); the predictor runs the learner's own adapt, so it matches predict exactly."""
    learner = trained_learner({"maml": {"inner_steps": 2, "inner_lr": 0.1}})
    predictor = learner.deployable_predictor()
    assert isinstance(predictor, AdaptationPredictor) and predictor.adapts_backbone
    episode = random_episode(4, shots=2, queries=2, seed=3)
    with torch.no_grad():
        got = predictor(*episode.predictor_inputs())
    torch.testing.assert_close(got, learner.predict(episode), atol=0, rtol=0)
    body_frozen = trained_learner({"maml": {"inner_steps": 2, "inner_lr": 0.1}})
    body_frozen.adapts_body = False  # what the old head-only predictor computed
    assert (body_frozen.predict(episode) - got).abs().max() > 1e-3
    assert predictor.backbone is predictor.learner.backbone is not learner.backbone  # pruning it spares the learner


def test_the_model_card_says_what_the_predictor_does_and_which_sizes_are_free():
    classic = trained_learner({"maml": {"inner_steps": 2, "head_init": "learned"}})
    anil = trained_learner({"anil": {"inner_steps": 3, "inner_optimizer": "meta_sgd"}})
    assert describe_predictor(classic.deployable_predictor()) == (
        "adapts the whole network (backbone and head) on the support set with 2 inner step(s) of sgd, "
        "from a learned 3-way head init, exactly as the learner's predict does"
    )
    assert describe_predictor(anil.deployable_predictor()).startswith(
        "adapts the linear head on the support set with 3 inner step(s) of meta_sgd, from a zero head"
    )
    report = ExportReport(
        format="onnx", file="predictor.onnx", size_bytes=1024, max_abs_diff=1e-6, tolerance="t", fresh_process=True,
        loader_code="", dynamic_sizes="S and Q dynamic, N = 5", notes=["N fixed to 5: an LSTM cell needs it"],
        export_seconds=60.0, verification_note="on 1 verification episode(s) the logits differ by more than ...",
    )
    card = ModelCard(
        name="x", strategy={}, predictor=describe_predictor(classic.deployable_predictor()), dataset="d",
        episode_shape={"ways": 5, "shots": 1, "queries": 15},
        preprocessing={"channels": 1, "image_size": 16, "value_range": [0, 1], "ink": "dark"},
        stages=[], artifacts=[report],
    )
    markdown = card.markdown()
    assert "What the predictor does: adapts the whole network (backbone and head)" in markdown
    assert "Episode sizes: S and Q dynamic, N = 5; N fixed to 5: an LSTM cell needs it." in markdown
    assert "(max seen 1e-06; on 1 verification episode(s) the logits differ by more than ...)" in markdown

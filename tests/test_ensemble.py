"""export.ensemble: the top trials shipped as one predictor averaging their class probabilities."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml
from test_search import toy_plugin, write_recipe  # noqa: F401  (toy_plugin: the search_toy learner)
from torch import nn

from autometa.deploy import export_and_verify
from autometa.deploy.ensemble import EnsemblePredictor
from autometa.errors import AutometaError
from autometa.plugins import default_host
from autometa.search import run_search


class FixedLogits(nn.Module):
    """Returns the same logits for every query."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, support, support_onehot, query):
        return self.logits.expand(query.shape[0], -1)


def test_the_ensemble_averages_its_members_probabilities():
    members = [FixedLogits([4.0, 0.0, 0.0]), FixedLogits([0.0, 3.0, 0.0])]
    out = EnsemblePredictor(members)(torch.zeros(3, 1, 2, 2), torch.eye(3), torch.zeros(2, 1, 2, 2))
    expected = (torch.tensor([4.0, 0.0, 0.0]).softmax(-1) + torch.tensor([0.0, 3.0, 0.0]).softmax(-1)) / 2
    torch.testing.assert_close(out.exp(), expected.expand(2, -1))
    assert out.argmax(-1).tolist() == [0, 0] and math.isclose(float(out.exp().sum(-1)[0]), 1.0, rel_tol=1e-6)
    with pytest.raises(ValueError, match="at least two"):
        EnsemblePredictor(members[:1])


def test_an_ensemble_of_trained_predictors_exports_and_verifies(tmp_path):
    from autometa.authoring import testing
    from autometa.data import fixed_episodes, load_data
    from autometa.learning import build_learner
    from autometa.recipe import DataSection, EpisodeShape, Strategy

    default_host().register(testing, testing.TESTING_PLUGIN, "autometa (testing)")
    try:
        data = load_data(DataSection(dataset="tiny_patterns"), default_host().registry, cache_dir=tmp_path / "cache")
        members = []
        for seed, learner in enumerate(["protonet", "protonet"]):  # anil traces its inner loop: minutes
            torch.manual_seed(seed)
            strategy = Strategy(learner=learner, backbone={"conv4": {"width": 8 * (seed + 1)}})
            members.append(build_learner(strategy, data.preprocessing, default_host().registry).deployable_predictor())
    finally:
        default_host().unregister(testing.TESTING_PLUGIN)
    episodes = [fixed_episodes(data.test, EpisodeShape(ways=3, shots=2, queries=2), 1, seed=1,
                               preprocessing=data.preprocessing)[0]]
    exporters = [default_host().registry.create("exporter", fmt) for fmt in ("torch_export", "onnx")]
    reports = export_and_verify(EnsemblePredictor(members).eval(), exporters, tmp_path / "out", episodes,
                                fresh_process=False)
    assert [r.format for r in reports] == ["torch_export", "onnx"]  # each raised ExportError beyond tolerance


def test_a_search_ships_its_top_trials_as_one_verified_predictor(tmp_path):
    path = write_recipe(tmp_path, search={"trials": 3})
    recipe = yaml.safe_load(open(path))
    recipe["export"] = {"formats": ["torch_export"], "ensemble": 2}
    open(path, "w").write(yaml.safe_dump(recipe))
    summary = run_search(path, default_host(), quiet=True)
    run = tmp_path / "runs" / "toy"
    members = sorted(p.name for p in (run / "best" / "ensemble").glob("*.pt"))
    complete = sorted((t for t in summary.trials if t.state == "complete"), key=lambda t: -t.values[0])
    assert members == [f"{rank}-trial{t.number}.pt" for rank, t in enumerate(complete[:2])]
    card = json.loads((summary.artifacts / "model_card.json").read_text())
    assert card["ensemble"] == [m.removesuffix(".pt") for m in members]
    assert card["predictor"].startswith("averages the class probabilities of 2 predictors")
    assert card["artifacts"][0]["file"] == "predictor.pt2" and "Ensemble" in (summary.artifacts / "model_card.md").read_text()


@pytest.mark.parametrize("export, compression, message", [
    ({"ensemble": 2, "refit": True}, None, "refit retrains the winner alone"),
    ({"ensemble": 2}, {"pruner": "magnitude"}, "an ensemble ships uncompressed"),
])
def test_ensembles_that_cannot_be_built_are_refused_when_the_recipe_loads(tmp_path, export, compression, message):
    path = write_recipe(tmp_path)
    recipe = yaml.safe_load(open(path))
    recipe["export"] = export
    if compression:
        recipe["compression"] = compression
    open(path, "w").write(yaml.safe_dump(recipe))
    with pytest.raises(AutometaError, match=message) as info:
        run_search(path, default_host(), quiet=True)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)

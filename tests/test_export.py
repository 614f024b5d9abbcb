"""Export: a small trained predictor to .pt2 and ONNX, reloaded in a fresh Python
process in which autometa cannot be imported, logits matched within tolerance;
raw PNG files through the model card's documented preprocessing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from autometa.authoring import testing
from autometa.data import fixed_episodes, load_data, to_float
from autometa.deploy import (
    ExportError,
    export_and_verify,
    predict_episode,
    preprocessing_code,
    preprocessing_dict,
    run_in_fresh_process,
)
from autometa.learning import train
from autometa.plugins import default_host
from autometa.recipe import EpisodeShape, Recipe


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A ProtoNet (Conv4, width 8) meta-trained for a few steps on the synthetic test data set."""
    default_host().register(testing, testing.TESTING_PLUGIN, "autometa (testing)")
    try:
        recipe = Recipe.model_validate(testing.tiny_recipe())
        recipe.training.meta_steps = 20
        recipe.training.eval_every = 20
        data = load_data(recipe.data, default_host().registry, cache_dir=tmp_path_factory.mktemp("cache"))
    finally:
        default_host().unregister(testing.TESTING_PLUGIN)
    result = train(recipe, recipe.fixed_strategy(), data, default_host().registry)
    episodes = [
        fixed_episodes(data.test, EpisodeShape(ways=3, shots=2, queries=2), 1, seed=1, preprocessing=data.preprocessing)[0],
        fixed_episodes(data.test, EpisodeShape(ways=4, shots=1, queries=3), 1, seed=2, preprocessing=data.preprocessing)[0],
    ]
    return result.learner.export_predictor().eval(), data, episodes


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """Both formats exported and verified (export_and_verify raises ExportError on any mismatch)."""
    predictor, _, episodes = trained
    folder = tmp_path_factory.mktemp("artifacts")
    exporters = [default_host().registry.create("exporter", fmt) for fmt in ("torch_export", "onnx")]
    reports = export_and_verify(predictor, exporters, folder, episodes)
    return {e.name: (e, folder / f"predictor{e.suffix}", report) for e, report in zip(exporters, reports)}


@pytest.mark.parametrize("fmt", ["torch_export", "onnx"])
def test_export_reloads_without_autometa_and_matches_logits(trained, exported, fmt):
    predictor, data, _ = trained
    exporter, path, report = exported[fmt]
    assert path.is_file() and report.size_bytes == path.stat().st_size
    assert report.fresh_process and report.max_abs_diff <= exporter.options.atol
    assert "autometa" not in report.loader_code
    # Ways, shots and queries stay free: an episode shape the export never saw.
    loaded = exporter.load(path)
    other = fixed_episodes(data.test, EpisodeShape(ways=4, shots=3, queries=1), 1, seed=3,
                           preprocessing=data.preprocessing)[0]
    assert torch.allclose(predict_episode(loaded, other), predict_episode(predictor, other), atol=exporter.options.atol)


def test_verification_rejects_a_file_that_does_not_match(trained, exported):
    predictor, _, episodes = trained
    _, path, _ = exported["torch_export"]
    exporter = default_host().registry.create("exporter", "torch_export")
    exporter.load = lambda _: (lambda s, o, q: predictor(s, o, q) + 1.0)  # a file that drifted
    with pytest.raises(ExportError, match="differ from the in-framework predictor"):
        export_and_verify(predictor, [exporter], path.parent / "drift", episodes)


def test_fresh_process_cannot_import_autometa():
    inputs = (torch.zeros(2, 1, 4, 4), torch.eye(2), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ExportError, match="autometa must not be needed"):
        run_in_fresh_process("import autometa\ndef predict(s, o, q):\n    return o", inputs)


def test_raw_png_files_through_documented_preprocessing(trained, exported, tmp_path):
    """Images saved as PNG files, read back by the model card's load_image in a fresh process,
    give the same logits as the data layer's to_float path."""
    predictor, data, _ = trained
    exporter, path, _ = exported["torch_export"]
    labels = data.test.labels
    chosen = [i for c in labels.unique()[:3] for i in (labels == c).nonzero().flatten()[:2].tolist()]
    raw = data.test.images[chosen]  # uint8 [6, 1, H, W]: two images of each of three classes
    labels = data.test.labels[chosen]
    files = []
    for i, image in enumerate(raw):
        files.append(str(tmp_path / f"image{i}.png"))
        Image.fromarray(image[0].numpy()).save(files[-1])
    classes = sorted(set(labels.tolist()))
    support = [i for c in classes for i in (labels == c).nonzero().flatten().tolist()[:1]]
    query = [i for i in range(6) if i not in support]
    onehot = torch.nn.functional.one_hot(torch.tensor([classes.index(int(labels[i])) for i in support])).float()
    expected = predictor(to_float(raw[support], data.preprocessing), onehot, to_float(raw[query], data.preprocessing))

    code = "\n".join([
        preprocessing_code(preprocessing_dict(data.preprocessing)),
        exporter.loader_code(str(path)),
        "_predict = predict",
        "def predict(support, onehot, query):",
        f"    files = {json.dumps(files)}",
        "    load = lambda ids: np.stack([load_image(files[i]) for i in ids])",
        f"    return _predict(load({support}), onehot, load({query}))",
    ])
    got = run_in_fresh_process(code, (torch.zeros(1), onehot, torch.zeros(1)))
    np.testing.assert_allclose(got, expected.detach().numpy(), atol=1e-3, rtol=1e-4)


class NearTie(torch.nn.Module):
    """Logits that jump by ``jump`` when the support images' sum crosses ``threshold``: the
    discontinuity a gradient learner's inner loop has where two max-pooled values nearly tie."""

    def __init__(self, threshold: torch.Tensor, jump: float):
        super().__init__()
        self.register_buffer("threshold", threshold)
        self.jump = jump

    def forward(self, support_images, support_onehot, query_images):
        side = (support_images.sum() > self.threshold).float()
        return query_images.flatten(1).mean(1, keepdim=True) * support_onehot.sum(0) + self.jump * side


def test_a_difference_within_the_predictors_own_jump_at_a_near_tie_passes_with_a_note(trained, tmp_path):
    _, _, episodes = trained
    episode = episodes[0]
    predictor = NearTie(episode.support_x.float().sum(), jump=0.05)  # exactly at the tie: rounding picks the side
    exporter = default_host().registry.create("exporter", "torch_export")
    exporter.load = lambda _: (lambda s, o, q: predictor(s, o, q) + 0.05)  # a runtime on the other side of the tie
    (report,) = export_and_verify(predictor, [exporter], tmp_path, [episode], fresh_process=False)
    assert report.max_abs_diff == pytest.approx(0.05)
    assert "1 verification episode(s)" in report.verification_note and "up to 0.05" in report.verification_note
    exporter.load = lambda _: (lambda s, o, q: predictor(s, o, q) + 0.2)  # more than the predictor ever moves
    with pytest.raises(ExportError, match="differ from the in-framework predictor by up to 0.2"):
        export_and_verify(predictor, [exporter], tmp_path / "drift", [episode], fresh_process=False)

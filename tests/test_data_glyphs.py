"""The embedded ``glyphs`` data set: distinct characters, deterministic, a task that is neither trivial nor noise."""

from __future__ import annotations

import pytest
import torch

from autometa.data import SPLITS, default_cache_dir, fixed_episodes, load_data
from autometa.plugins import default_host
from autometa.recipe import DataSection, EpisodeShape
from autometa_plugins.datasets.glyphs import GlyphsOptions, distort, render_glyphs

SMALL = dict(max_classes_per_alphabet=5, min_classes_per_alphabet=5, instances_per_class=4)


def nearest_neighbour_accuracy(data, shape: EpisodeShape, episodes: int) -> float:
    """Accuracy of labelling each query by its nearest support image in pixel space (meta-test split)."""
    correct = total = 0
    for episode in fixed_episodes(data.test, shape, episodes, seed=0, preprocessing=data.preprocessing):
        support, query = episode.support_x.flatten(1), episode.query_x.flatten(1)
        distances = (query[:, None] - support[None]).square().sum(-1)
        correct += int((episode.support_y[distances.argmin(1)] == episode.query_y).sum())
        total += len(query)
    return correct / total


@pytest.fixture(scope="module")
def small():
    return render_glyphs(GlyphsOptions(**SMALL))


def test_render_is_deterministic_cached_and_split_by_alphabet(small, tmp_path):
    section = DataSection(dataset={"glyphs": SMALL}, cache_dir=tmp_path)
    again = load_data(section, default_host().registry)  # an independent render, saved in the cache
    assert len(list(tmp_path.glob("glyphs-v*-*.pt"))) == 1
    cached = load_data(section, default_host().registry)
    for s in SPLITS:
        assert torch.equal(small.split(s).images, again.split(s).images)
        assert small.split(s).class_names == again.split(s).class_names
        assert torch.equal(cached.split(s).images, again.split(s).images)
    groups = [set(small.split(s).groups) for s in SPLITS]
    assert all(groups) and not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert len(set().union(*groups)) >= 15


def test_drawers_depend_on_the_seed():
    ink = torch.zeros(4, 1, 48, 48)
    ink[:, :, 10:38, 20:28] = 1.0
    first = distort(ink, torch.Generator().manual_seed(0))
    assert torch.equal(first, distort(ink, torch.Generator().manual_seed(0)))
    assert not torch.equal(first, distort(ink, torch.Generator().manual_seed(1)))
    assert not torch.equal(first[0], first[1])  # each drawing gets its own distortion


def test_images_are_omniglot_like_and_classes_distinct(small):
    images = small.train.images
    assert images.dtype == torch.uint8 and images.shape[1:] == (1, 28, 28)
    assert small.preprocessing.ink == "dark-on-light" and small.preprocessing.channels == 1
    paper = images.float().mean()
    assert 170 < paper < 250  # light background, some dark ink
    assert (images.flatten(1).amin(1) < 160).all()  # every drawing has visible ink
    per_class = images.view(small.train.num_classes, -1, 28 * 28).float()
    assert (per_class.std(1).mean(1) > 1).all()  # drawers of a class differ
    first = per_class[:, 0]
    assert (torch.cdist(first, first) + torch.eye(len(first)) * 1e9).min() > 0  # no two classes identical


def test_nearest_neighbour_on_pixels_beats_chance_but_is_far_from_perfect(small):
    accuracy = nearest_neighbour_accuracy(small, EpisodeShape(ways=5, shots=1, queries=3), episodes=60)
    assert 0.3 < accuracy < 0.9, accuracy


@pytest.mark.slow
def test_default_glyphs_have_1000_classes_in_15_alphabets_and_an_honest_baseline():
    """The default render (cached in the user cache dir after the first run)."""
    data = load_data(DataSection(dataset="glyphs"), default_host().registry, cache_dir=default_cache_dir())
    assert sum(data.class_counts().values()) >= 1000
    assert len(set().union(*(data.split(s).groups for s in SPLITS))) >= 15
    assert all((data.split(s).images_per_class() >= 14).all() for s in SPLITS)
    accuracy = nearest_neighbour_accuracy(data, EpisodeShape(ways=5, shots=1, queries=15), episodes=200)
    assert 0.35 < accuracy < 0.9, accuracy

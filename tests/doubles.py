"""Tiny test doubles shared by the tests: data and a backbone in milliseconds, a compression stage's context."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from autometa import Backbone, hookimpl
from autometa.authoring import testing
from autometa.components import PluginOptions
from autometa.data import Dataset, EpisodeSampler, ImageClasses, Preprocessing, SplitData, fixed_episodes, load_data
from autometa.deploy import CompressionContext, frozen_copy
from autometa.learning import build_learner
from autometa.plugins import default_host
from autometa.recipe import DataSection, EpisodeShape, Strategy


class NoiseBlobs(Dataset):
    """Classes are fixed random 8x8 patterns plus noise (train 6, val 5, test 5 classes)."""

    name = "noise_blobs"

    class Options(PluginOptions):
        per_class: int = Field(6, description="images per class")

    def load(self, cache_dir) -> SplitData:
        g = torch.Generator().manual_seed(0)

        def split(prefix: str, classes: int) -> ImageClasses:
            centres = torch.rand(classes, 1, 8, 8, generator=g) * 200
            noise = torch.rand(classes, self.options.per_class, 1, 8, 8, generator=g) * 55
            images = (centres[:, None] + noise).to(torch.uint8).flatten(0, 1)
            labels = torch.arange(classes).repeat_interleave(self.options.per_class)
            return ImageClasses(images, labels, [f"{prefix}/{c}" for c in range(classes)])

        return SplitData(split("train", 6), split("val", 5), split("test", 5), Preprocessing(channels=1, image_size=8))


class FlatLinear(Backbone):
    """Flatten and one linear layer."""

    name = "flat_linear"

    class Options(PluginOptions):
        features: int = Field(16, description="embedding size")

    def __init__(self, options, in_channels: int, image_size: int):
        super().__init__(options, in_channels, image_size)
        self.out_features = options.features
        self.layer = nn.Linear(in_channels * image_size * image_size, options.features)

    def forward(self, x):
        return self.layer(x.flatten(1))


class DoublesPlugin:
    """The two doubles as a plugin, for tests that need nothing else: ``host.register(DoublesPlugin(), name)``."""

    @hookimpl
    def register_datasets(self):
        return [NoiseBlobs]

    @hookimpl
    def register_backbones(self):
        return [FlatLinear]


def tiny_patterns(cache_dir) -> SplitData:
    """The test helpers' synthetic data set (16-pixel patterns), loaded into ``cache_dir``."""
    default_host().register(testing, testing.TESTING_PLUGIN, "autometa (testing)")
    try:
        return load_data(DataSection(dataset="tiny_patterns"), default_host().registry, cache_dir=cache_dir)
    finally:
        default_host().unregister(testing.TESTING_PLUGIN)


def untrained_predictor_and_context(
    data: SplitData, strategy: Strategy, shape: EpisodeShape, val_episodes: int
) -> tuple[nn.Module, CompressionContext]:
    """``strategy``'s deployable predictor (seeded, untrained) and a compression context around it:
    the predictor's frozen copy as teacher, fresh meta-train episodes of ``shape``, fixed validation ones."""
    torch.manual_seed(0)
    predictor = build_learner(strategy, data.preprocessing, default_host().registry).deployable_predictor().eval()
    sampler = EpisodeSampler(data.train, shape, preprocessing=data.preprocessing, seed=0)
    return predictor, CompressionContext(
        teacher=frozen_copy(predictor),
        sample_episode=lambda: sampler.sample(1).episode(0),
        val_episodes=list(fixed_episodes(data.val, shape, val_episodes, seed=0, preprocessing=data.preprocessing)),
        preprocessing=data.preprocessing,
        registry=default_host().registry,
    )

"""Meta-features: numbers that say how alike two few-shot problems are, the same every time they are computed.

A search's meta-features describe its data (image size and channels, class and
image counts, images per class, pixel statistics), its evaluation shape (ways,
shots, queries) and how hard its episodes are for rules that learn nothing: the
accuracy of a nearest-centroid rule on raw pixels (``probe_pixels``) and on the
features of a small convolutional network with fixed random weights
(``probe_random_conv``), over :data:`PROBE_EPISODES` episodes of the evaluation
shape drawn from meta-val with a fixed seed. Nothing depends on the recipe's
seed, the run or the machine (the probe computes in float64 on images shrunk to
at most :data:`PROBE_SIZE` pixels), and every number is rounded to 4 decimals.

:func:`meta_distance` compares two searches: each feature is put on a scale where
1 means "clearly different" (:data:`DISTANCE_UNITS`), and the distance is the
root mean square of those differences over the features both searches have.
"""

from __future__ import annotations

import math
import torch
import torch.nn.functional as F

from autometa.data.dataset import SPLITS, Preprocessing, SplitData
from autometa.data.episodes import fixed_episodes
from autometa.recipe.schema import EpisodeShape

#: Episodes of the evaluation shape the probes are scored on, and their seed (not the recipe's).
PROBE_EPISODES = 16
PROBE_SEED = 0
#: Probe images are shrunk (area interpolation) to at most this side, so large images stay cheap.
PROBE_SIZE = 32
#: Training images whose pixels make the pixel statistics (a seeded sample when there are more).
PIXEL_SAMPLE = 2000

#: Feature -> (scale, unit): the difference of two values on that scale, divided by the unit,
#: is 1 for a clear difference: twice the image side, ten times the classes, a quarter of
#: the pixel range, ten points of probe accuracy.
DISTANCE_UNITS: dict[str, tuple[str, float]] = {
    "image_size": ("log2", 1.0),
    "channels": ("log2", 1.0),
    "classes": ("log10", 1.0),
    "images_per_class": ("log10", 1.0),
    "pixel_mean": ("linear", 0.25),
    "pixel_std": ("linear", 0.25),
    "ways": ("log2", 1.0),
    "shots": ("log2", 1.0),
    "probe_pixels": ("linear", 0.1),
    "probe_random_conv": ("linear", 0.1),
}
_SCALES = {"log2": lambda x: math.log2(max(x, 1e-9)), "log10": lambda x: math.log10(max(x, 1e-9)), "linear": float}


def meta_features(data: SplitData, shape: EpisodeShape) -> dict[str, float]:
    """The meta-features of ``data`` scored with episodes of ``shape`` (see the module docstring)."""
    splits = [data.split(name) for name in SPLITS]
    counts = torch.cat([split.images_per_class() for split in splits]).double()
    channels, size = data.train.images.shape[1], data.train.images.shape[-1]
    pixel_mean, pixel_std = _pixel_stats(data.train.images)
    features = {
        "image_size": size,
        "channels": channels,
        "classes": len(counts),
        "train_classes": data.train.num_classes,
        "images": int(counts.sum()),
        "images_per_class": float(counts.mean()) if len(counts) else 0.0,
        "min_images_per_class": float(counts.min()) if len(counts) else 0.0,
        "pixel_mean": pixel_mean,
        "pixel_std": pixel_std,
        "ways": shape.ways,
        "shots": shape.shots,
        "queries": shape.queries,
        **_probes(data, shape),
    }
    return {name: round(float(value), 4) for name, value in features.items()}


def meta_distance(a: dict[str, float], b: dict[str, float]) -> float:
    """How unlike two searches are: root mean square of the scaled differences of their shared features."""
    shared = [name for name in DISTANCE_UNITS if name in a and name in b]
    if not shared:
        return math.inf
    squares = []
    for name in shared:
        scale, unit = DISTANCE_UNITS[name]
        on_scale = _SCALES[scale]
        squares.append(((on_scale(a[name]) - on_scale(b[name])) / unit) ** 2)
    return math.sqrt(sum(squares) / len(squares))


def _pixel_stats(images: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of the pixels in [0, 1] of at most :data:`PIXEL_SAMPLE` images (a seeded
    choice), summed in float64 a hundred images at a time so large colour images need little memory."""
    if len(images) > PIXEL_SAMPLE:
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(PROBE_SEED))
        images = images[order[:PIXEL_SAMPLE].sort().values]
    total = squares = 0.0
    for chunk in images.split(100):
        pixels = chunk.double() / 255
        total += float(pixels.sum())
        squares += float(pixels.square().sum())
    count = max(images.numel(), 1)
    mean = total / count
    return mean, math.sqrt(max(squares / count - mean**2, 0.0))


def _probes(data: SplitData, shape: EpisodeShape) -> dict[str, float]:
    """Nearest-centroid accuracy on raw pixels and on random-conv features, over fixed meta-val episodes."""
    channels, size = data.val.images.shape[1], data.val.images.shape[-1]
    raw = Preprocessing(channels=channels, image_size=size)  # [0, 1] pixels, whatever the recipe normalises
    episodes = fixed_episodes(data.val, shape, PROBE_EPISODES, seed=PROBE_SEED, preprocessing=raw)
    weights = _random_conv_weights(channels)
    correct = {"probe_pixels": 0.0, "probe_random_conv": 0.0}
    for episode in episodes:
        support, query = _shrink(episode.support_x), _shrink(episode.query_x)
        embeddings = {
            "probe_pixels": (support.flatten(1), query.flatten(1)),
            "probe_random_conv": (_random_conv(support, weights), _random_conv(query, weights)),
        }
        for name, (s, q) in embeddings.items():
            centroids = torch.stack([s[episode.support_y == c].mean(0) for c in range(episode.ways)])
            predicted = torch.cdist(q, centroids).argmin(1)
            correct[name] += float((predicted == episode.query_y).double().mean())
    return {name: total / len(episodes) for name, total in correct.items()}


def _shrink(images: torch.Tensor) -> torch.Tensor:
    images = images.double()
    if images.shape[-1] > PROBE_SIZE:
        images = F.interpolate(images, size=(PROBE_SIZE, PROBE_SIZE), mode="area")
    return images


def _random_conv_weights(channels: int) -> list[torch.Tensor]:
    """Two 3x3 conv layers of 32 filters, He-initialised from a fixed seed."""
    generator = torch.Generator().manual_seed(PROBE_SEED)
    weights, inputs = [], channels
    for outputs in (32, 32):
        scale = math.sqrt(2 / (inputs * 9))
        weights.append(torch.randn(outputs, inputs, 3, 3, generator=generator, dtype=torch.float64) * scale)
        inputs = outputs
    return weights


def _random_conv(images: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    x = images
    for weight in weights:
        x = F.max_pool2d(F.relu(F.conv2d(x, weight, padding=1)), 2)
    return F.adaptive_avg_pool2d(x, 4).flatten(1)

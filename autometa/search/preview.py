"""A few of the winner's validation episodes with its predictions, kept in the run directory.

People judge a few-shot model by looking at its mistakes. After a search, the
winner predicts the first :data:`PREVIEW_EPISODES` fixed validation episodes and
``best/val_preview.npz`` keeps their images (uint8, as stored), true and predicted
labels and class names: a few KiB, so ``autometa report`` draws them with neither
the data set nor the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from autometa.components.registry import Registry
from autometa.data.dataset import ImageClasses, SplitData
from autometa.data.episodes import FixedEpisodes
from autometa.data.loading import load_recipe_data
from autometa.learning.checkpoint import load_checkpoint
from autometa.learning.evaluation import split_episodes
from autometa.learning.learner import MetaLearner
from autometa.recipe.schema import Recipe

PREVIEW_EPISODES = 3
_ARRAYS = ("support", "support_labels", "query", "query_labels", "predicted")


@dataclass
class PreviewEpisode:
    """One episode: ``support``/``query`` images ``uint8 [n, C, H, W]``, labels, the winner's predictions."""

    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray
    predicted: np.ndarray
    class_names: list[str]


def read_preview(path: Path) -> tuple[int, list[PreviewEpisode]] | None:
    """(the trial that predicted, its episodes), or None when there is no readable preview."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            count = int(stored["episodes"])
            episodes = [
                PreviewEpisode(*(stored[f"{name}_{i}"] for name in _ARRAYS), stored[f"class_names_{i}"].tolist())
                for i in range(count)
            ]
            return int(stored["trial"]), episodes
    except (OSError, KeyError, ValueError):
        return None


def write_preview(path: Path, trial: int, episodes: list[PreviewEpisode]) -> None:
    """Save ``episodes`` predicted by ``trial`` (compressed npz, written atomically)."""
    arrays: dict[str, np.ndarray] = {"trial": np.array(trial), "episodes": np.array(len(episodes))}
    for i, episode in enumerate(episodes):
        arrays |= {f"{field}_{i}": getattr(episode, field) for field in _ARRAYS}
        arrays[f"class_names_{i}"] = np.array(episode.class_names)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez_compressed(partial, **arrays)
    partial.replace(path)


def update_preview(path: Path, trial: int, checkpoint: Path, recipe: Recipe, data: SplitData | None,
                   registry: Registry) -> None:
    """Write the preview of ``trial`` (its ``checkpoint``) unless ``path`` already holds it; loads the
    recipe's data only then."""
    current = read_preview(path)
    if current is not None and current[0] == trial:
        return
    data = data or load_recipe_data(recipe, registry)
    learner = load_checkpoint(checkpoint, registry).learner
    write_preview(path, trial, predict_preview(learner, data.val, split_episodes(recipe, data, "val")))


def predict_preview(learner: MetaLearner, split: ImageClasses, episodes: FixedEpisodes,
                    count: int = PREVIEW_EPISODES) -> list[PreviewEpisode]:
    """The first ``count`` of the fixed ``episodes`` of ``split`` with ``learner``'s predictions."""
    learner.eval()
    out = []
    for i in range(min(count, len(episodes))):
        episode = episodes[i]
        predicted = learner.predict(episode).argmax(-1).cpu()  # gradient learners adapt with autograd: no no_grad
        indices = episodes.image_indices(i)  # [ways, shots + queries] into the split's stored images
        shots = episode.support_y.numel() // episode.ways
        images = _as_uint8(split.images[indices])
        names = [split.class_names[int(split.labels[row[0]])] for row in indices]
        out.append(PreviewEpisode(
            support=images[:, :shots].reshape(-1, *images.shape[2:]),
            support_labels=episode.support_y.cpu().numpy(),
            query=images[:, shots:].reshape(-1, *images.shape[2:]),
            query_labels=episode.query_y.cpu().numpy(),
            predicted=predicted.to(torch.int64).numpy(),
            class_names=names,
        ))
    return out


def _as_uint8(images: torch.Tensor) -> np.ndarray:
    """Stored images as uint8; float images (a plugin's own scale) are stretched to 0-255 each."""
    array = images.cpu().numpy()
    if array.dtype == np.uint8:
        return array
    low = array.min(axis=(-3, -2, -1), keepdims=True)
    high = array.max(axis=(-3, -2, -1), keepdims=True)
    return np.round(255 * (array - low) / np.maximum(high - low, 1e-8)).astype(np.uint8)

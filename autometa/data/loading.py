"""Loading a recipe's data: build its data set plugin, cache, resize, normalise, and check it fits.

:func:`load_data` is the one way the rest of autometa gets data: it builds the
plugin a recipe names, loads it through the cache, resizes and records the
:class:`~autometa.data.dataset.Preprocessing` a deployed model needs.
:func:`check_recipe_shapes` then fails before any training when a split cannot
supply the episodes the recipe asks for.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from autometa.components.registry import Registry
from autometa.data.cache import default_cache_dir
from autometa.data.dataset import SPLITS, SplitData
from autometa.data.episodes import check_episode_shape
from autometa.data.integrity import check_integrity
from autometa.data.transforms import channel_stats, resize
from autometa.errors import PluginError
from autometa.recipe.schema import DataSection, EpisodeShape, Recipe
from autometa.recipe.space import candidates


def load_data(section: DataSection, registry: Registry, *, cache_dir: Path | None = None) -> SplitData:
    """Build the recipe's data set plugin from ``registry``, load its splits, check their integrity
    (:mod:`autometa.data.integrity`), resize and fill in preprocessing.

    ``cache_dir`` overrides the recipe's ``data.cache_dir`` and the default
    (:func:`~autometa.data.cache.default_cache_dir`).
    """
    dataset = registry.create("dataset", section.dataset)
    cache_dir = Path(cache_dir or section.cache_dir or default_cache_dir())
    data = dataset.load(cache_dir)
    _check_disjoint(data, section.dataset.name)
    warnings = check_integrity(data, section.dataset.name).warnings
    size = section.transforms.image_size
    if size is not None and size != data.preprocessing.image_size:
        data = SplitData(
            *(replace(data.split(s), images=resize(data.split(s).images, size)) for s in SPLITS),
            preprocessing=replace(data.preprocessing, image_size=size),
        )
    data.warnings = warnings
    if section.transforms.normalize == "dataset":
        mean, std = channel_stats(data.train.images)
        data.preprocessing = replace(data.preprocessing, mean=mean, std=std)
    return data


def _check_disjoint(data: SplitData, dataset_name: str) -> None:
    seen: dict[str, str] = {}
    for split in SPLITS:
        for name in data.split(split).class_names:
            if name in seen:
                raise PluginError(
                    f"data set '{dataset_name}' put class '{name}' in both {seen[name]} and {split}; "
                    "report this to the plugin's author"
                )
            seen[name] = split


def check_recipe_shapes(recipe: Recipe, data: SplitData) -> None:
    """Fail before any training when a split cannot supply the recipe's episodes.

    The evaluation shape is checked against meta-val and meta-test, and the largest
    training shape the search space can propose against meta-train.
    """
    check_episode_shape(data.val, "val", recipe.evaluation.shape)
    check_episode_shape(data.test, "test", recipe.evaluation.shape)
    check_episode_shape(data.train, "train", largest_training_shape(recipe))


def largest_training_shape(recipe: Recipe) -> EpisodeShape:
    """The most ways, shots and queries any candidate of ``strategy.train_episodes`` asks for
    (within one group if any candidate draws within groups)."""
    default = EpisodeShape()
    path = "strategy.train_episodes"
    largest: dict = {"ways": 0, "shots": 0, "queries": 0, "within_group": False}
    for option in candidates(recipe.strategy.get("train_episodes", {}), path):
        for key in largest:
            value = option.get(key, getattr(default, key)) if isinstance(option, dict) else getattr(default, key)
            largest[key] = max(largest[key], *candidates(value, f"{path}.{key}"))
    return EpisodeShape(**largest)


def load_recipe_data(recipe: Recipe, registry: Registry) -> SplitData:
    """The recipe's data, checked against every episode shape the recipe can ask for (before any training)."""
    data = load_data(recipe.data, registry)
    check_recipe_shapes(recipe, data)
    return data

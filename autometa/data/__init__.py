"""Data: the data set contract, its cache, image decoding and transforms, episodes, and progress while preparing."""

from autometa.data.cache import cache_key, cached, default_cache_dir
from autometa.data.dataset import (
    SPLIT_TITLES,
    SPLITS,
    Dataset,
    ImageClasses,
    Preprocessing,
    SplitData,
    assign_groups,
    split_by_group,
)
from autometa.data.episodes import (
    Episode,
    EpisodeSampler,
    FixedEpisodes,
    TaskBatch,
    check_episode_shape,
    fixed_episodes,
    to_float,
)
from autometa.data.image_files import IMAGE_EXTENSIONS, decode_image, is_image
from autometa.data.loading import check_recipe_shapes, largest_training_shape, load_data, load_recipe_data
from autometa.data.progress import track
from autometa.data.transforms import AUGMENTATIONS, augment, channel_stats, normalize, resize

__all__ = [
    "cache_key",
    "cached",
    "default_cache_dir",
    "SPLIT_TITLES",
    "SPLITS",
    "Dataset",
    "ImageClasses",
    "Preprocessing",
    "SplitData",
    "assign_groups",
    "split_by_group",
    "Episode",
    "EpisodeSampler",
    "FixedEpisodes",
    "TaskBatch",
    "check_episode_shape",
    "fixed_episodes",
    "to_float",
    "IMAGE_EXTENSIONS",
    "decode_image",
    "is_image",
    "check_recipe_shapes",
    "largest_training_shape",
    "load_data",
    "load_recipe_data",
    "track",
    "AUGMENTATIONS",
    "augment",
    "channel_stats",
    "normalize",
    "resize",
]

"""Augmentation components and the training images they feed: shapes, ranges, identities, seeds, sizes."""

from __future__ import annotations

import pytest
import torch

from autometa.data import ImageClasses, Preprocessing, SplitData, TrainingImages, to_float
from autometa.data.loading import at_size, check_recipe_shapes
from autometa.data.transforms import resize
from autometa.errors import DataError, RecipeError
from autometa.plugins import default_host
from autometa.recipe import parse_recipe

BUILT_IN = ["affine", "elastic", "flip", "crop", "jitter"]


def create(name: str, **options):
    return default_host().registry.create("augmentation", {name: options} if options else name)


def strokes(count: int = 6, size: int = 16) -> torch.Tensor:
    """Float images in [0, 1]: a bright vertical bar at a different column in each image."""
    images = torch.zeros(count, 1, size, size)
    for i in range(count):
        images[i, 0, 2:-2, 2 + i] = 1.0
    return images


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_builtin_keeps_shape_and_range_changes_images_and_follows_its_seed(name):
    augmentation, images = create(name), strokes()
    first = augmentation(images, torch.Generator().manual_seed(1))
    again = augmentation(images, torch.Generator().manual_seed(1))
    other = augmentation(images, torch.Generator().manual_seed(2))
    assert first.shape == images.shape
    assert first.min() >= 0 and first.max() <= 1
    assert not torch.equal(first, images)
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize(
    "name, options",
    [
        ("affine", {"rotation": 0, "shear": 0, "scale_min": 1, "scale_max": 1, "translate": 0}),
        ("elastic", {"magnitude": 0}),
        ("crop", {"fraction": 0}),
        ("jitter", {"strength": 0}),
    ],
)
def test_zero_strength_is_the_identity(name, options):
    images = strokes()
    out = create(name, **options)(images, torch.Generator().manual_seed(0))
    assert torch.allclose(out, images, atol=1e-5)


def test_affine_rotates_by_the_angle_it_samples():
    affine = create("affine", rotation=90, shear=0, scale_min=1, scale_max=1, translate=0)
    quarter = torch.tensor([[0.0, -1.0, 0.0, 1.0, 0.0, 0.0]])  # a sampling matrix of exactly 90 degrees
    image = strokes(1)
    turned = affine.apply(image, quarter)
    assert torch.allclose(turned, torch.rot90(image, 1, dims=(2, 3)), atol=1e-5) or torch.allclose(
        turned, torch.rot90(image, -1, dims=(2, 3)), atol=1e-5
    )
    angles = affine.sample(1000, torch.Generator().manual_seed(0))
    cosines = angles[:, 0]  # a = cos(angle) without shear or scale
    assert cosines.min() < 0.1 and cosines.min() >= -1e-6  # angles reach about +-90 degrees, never beyond


def test_probability_decides_how_many_images_change():
    images = strokes(12, 16).repeat(20, 1, 1, 1)
    never = create("affine", probability=0.0)(images, torch.Generator().manual_seed(0))
    assert torch.equal(never, images)
    half = create("jitter", probability=0.5)(images, torch.Generator().manual_seed(0))
    changed = (half != images).flatten(1).any(1).float().mean().item()
    assert 0.3 < changed < 0.7


def test_a_recipe_naming_an_unknown_augmentation_option_fails_at_parse_time():
    text = "name: x\ndata: {dataset: glyphs}\nstrategy: {learner: protonet, augment: [{affine: {angle: 5}}]}\n"
    with pytest.raises(RecipeError, match=r"strategy.augment.*angle"):
        parse_recipe(text, default_host().registry)


def split_of(images_uint8: torch.Tensor) -> ImageClasses:
    labels = torch.arange(len(images_uint8)) // 2
    return ImageClasses(images_uint8, labels, [f"c{i}" for i in range(int(labels.max()) + 1)])


def test_training_images_are_resized_to_the_models_size_after_augmenting_at_the_stored_size():
    stored = (strokes(6, 16) * 255).to(torch.uint8)
    small = Preprocessing(channels=1, image_size=8)
    plain = TrainingImages(stored, small)
    indices = torch.tensor([[0, 3], [5, 1]])
    batch = plain(indices, torch.Generator().manual_seed(0))
    assert batch.shape == (2, 2, 1, 8, 8)
    assert torch.allclose(batch, to_float(resize(stored, 8)[indices], small), atol=1e-6)
    augmented = TrainingImages(stored, small, [create("affine")])(indices, torch.Generator().manual_seed(0))
    assert augmented.shape == (2, 2, 1, 8, 8) and not torch.equal(augmented, batch)


def test_at_size_resizes_every_split_once_and_keeps_the_statistics():
    images = (strokes(6, 16) * 255).to(torch.uint8)
    data = SplitData(split_of(images), split_of(images), split_of(images),
                     Preprocessing(channels=1, image_size=16, mean=[0.2], std=[0.3]))
    assert at_size(data, None) is data and at_size(data, 16) is data
    small = at_size(data, 8)
    assert small is at_size(data, 8)
    assert small.preprocessing.image_size == 8 and small.preprocessing.mean == [0.2]
    assert all(small.split(s).images.shape[-1] == 8 for s in ("train", "val", "test"))


def test_a_strategy_size_larger_than_the_data_is_refused_before_training():
    text = """\
name: sizes
data: {dataset: glyphs}
evaluation: {ways: 3, shots: 1, queries: 1, val_episodes: 2, test_episodes: 2}
strategy: {learner: protonet, image_size: {choice: [8, 32]}, train_episodes: {ways: 3, shots: 1, queries: 1}}
"""
    registry = default_host().registry
    recipe = parse_recipe(text, registry)
    images = (strokes(6, 16) * 255).to(torch.uint8)
    data = SplitData(split_of(images), split_of(images), split_of(images), Preprocessing(channels=1, image_size=16))
    with pytest.raises(DataError, match="strategy.image_size 32 is larger than the data's 16 px"):
        check_recipe_shapes(recipe, data)

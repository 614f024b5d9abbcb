"""Episode sampler and fixed evaluation episodes, on a tiny synthetic split."""

from __future__ import annotations

import pytest
import torch

from autometa.data import EpisodeSampler, ImageClasses, Preprocessing, check_episode_shape, fixed_episodes, to_float
from autometa.errors import DataError
from autometa.recipe import EpisodeShape

PRE = Preprocessing(channels=1, image_size=4)


def make_split(classes: int = 12, per_class: int = 6, sizes: list[int] | None = None) -> ImageClasses:
    """Each image's pixels encode its own index, so an episode's images can be traced back."""
    sizes = sizes or [per_class] * classes
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(sizes)])
    index = torch.arange(len(labels))
    images = torch.stack([index % 256, index // 256]).T.to(torch.uint8).repeat_interleave(8, 1).view(-1, 1, 4, 4)
    return ImageClasses(images, labels, [f"class{c}" for c in range(len(sizes))], ["g"] * len(sizes))


def image_ids(x: torch.Tensor) -> torch.Tensor:
    raw = (x * 255).round().long().flatten(-3)
    return raw[..., 0] + 256 * raw[..., 8]


def test_batch_shapes_and_labels():
    split = make_split()
    shape = EpisodeShape(ways=3, shots=2, queries=4)
    batch = EpisodeSampler(split, shape, preprocessing=PRE, seed=0).sample(5)
    assert batch.support_x.shape == (5, 6, 1, 4, 4) and batch.query_x.shape == (5, 12, 1, 4, 4)
    assert batch.support_x.dtype == torch.float32 and len(batch) == 5 and batch.ways == 3
    assert batch.support_y[0].tolist() == [0, 0, 1, 1, 2, 2]
    assert batch.query_y[0].tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_episodes_are_consistent_disjoint_and_relabelled():
    split = make_split(sizes=[6, 9, 7, 30, 6, 8, 6, 6])  # unequal class sizes
    shape = EpisodeShape(ways=4, shots=2, queries=3)
    batch = EpisodeSampler(split, shape, preprocessing=PRE, seed=1).sample(50)
    orders = set()
    for b in range(50):
        support, query = image_ids(batch.support_x[b]), image_ids(batch.query_x[b])
        assert not set(support.tolist()) & set(query.tolist())  # support and query never share an image
        assert len(set(support.tolist()) | set(query.tolist())) == 4 * 5
        true_s, true_q = split.labels[support], split.labels[query]
        mapping = dict(zip(batch.support_y[b].tolist(), true_s.tolist()))
        assert sorted(mapping) == [0, 1, 2, 3] and len(set(mapping.values())) == 4  # a permutation of 4 classes
        assert [mapping[y] for y in batch.query_y[b].tolist()] == true_q.tolist()  # same relabelling for queries
        orders.add(tuple(mapping.values()))
    assert len(orders) > 40  # classes and their label order vary between episodes


def test_sampler_is_seeded_and_resumable():
    split, shape = make_split(), EpisodeShape(ways=3, shots=1, queries=2)
    a = EpisodeSampler(split, shape, preprocessing=PRE, seed=3)
    b = EpisodeSampler(split, shape, preprocessing=PRE, seed=3)
    assert torch.equal(a.sample(4).query_x, b.sample(4).query_x)
    state = a.state_dict()
    expected = a.sample(4).support_x
    b.load_state_dict(state)
    assert torch.equal(b.sample(4).support_x, expected)
    other = EpisodeSampler(split, shape, preprocessing=PRE, seed=4)
    assert not torch.equal(other.sample(4).support_x, EpisodeSampler(split, shape, preprocessing=PRE, seed=3).sample(4).support_x)


def test_fixed_episodes_same_seed_same_tasks_other_seed_other_tasks():
    split, shape = make_split(), EpisodeShape(ways=5, shots=1, queries=3)
    first = fixed_episodes(split, shape, 20, seed=7, preprocessing=PRE)
    again = fixed_episodes(split, shape, 20, seed=7, preprocessing=PRE)
    other = fixed_episodes(split, shape, 20, seed=8, preprocessing=PRE)
    assert len(first) == 20 and len(first[2:5]) == 3
    assert all(torch.equal(x.support_x, y.support_x) and torch.equal(x.query_x, y.query_x) for x, y in zip(first, again))
    assert any(not torch.equal(x.query_x, y.query_x) for x, y in zip(first, other))
    episode = first[0]
    assert episode.support_x.shape == (5, 1, 4, 4) and episode.query_x.shape == (15, 1, 4, 4)
    assert episode.support_y.tolist() == [0, 1, 2, 3, 4] and episode.ways == 5
    assert first.image_indices(0).shape == (5, 4)


@pytest.mark.parametrize(
    "shape, split_name, words",
    [
        (EpisodeShape(ways=13, shots=1, queries=1), "val", ["meta-val", "12 classes", "13 ways"]),
        (EpisodeShape(ways=5, shots=2, queries=5), "train", ["meta-train", "at least 7 images", "2 shots", "5 queries"]),
    ],
)
def test_too_large_shapes_fail_naming_split_and_numbers(shape, split_name, words):
    with pytest.raises(DataError) as error:
        check_episode_shape(make_split(), split_name, shape)
    message = str(error.value)
    assert all(w in message for w in words) and "\n" not in message
    with pytest.raises(DataError):
        fixed_episodes(make_split(), shape, 3, seed=0, preprocessing=PRE, split_name=split_name)


def test_shape_check_counts_only_classes_big_enough():
    split = make_split(sizes=[10, 10, 3, 3])
    check_episode_shape(split, "train", EpisodeShape(ways=2, shots=5, queries=5))
    with pytest.raises(DataError, match="only 2 classes"):
        EpisodeSampler(split, EpisodeShape(ways=3, shots=1, queries=5), preprocessing=PRE, seed=0)


def test_to_float_scales_and_normalises():
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1)
    assert to_float(images, PRE).flatten().tolist() == [0.0, 1.0]
    normalised = Preprocessing(channels=1, image_size=1, mean=[0.5], std=[0.5])
    assert to_float(images, normalised).flatten().tolist() == [-1.0, 1.0]
    signed = Preprocessing(channels=1, image_size=1, value_range=(-1.0, 1.0))
    assert to_float(images, signed).flatten().tolist() == [-1.0, 1.0]


def test_sampler_applies_normalisation_and_augmentation():
    split, shape = make_split(), EpisodeShape(ways=2, shots=1, queries=1)
    pre = Preprocessing(channels=1, image_size=4, mean=[0.25], std=[2.0])
    plain = EpisodeSampler(split, shape, preprocessing=PRE, seed=0).sample(3)
    normed = EpisodeSampler(split, shape, preprocessing=pre, seed=0).sample(3)
    assert torch.allclose(normed.support_x, (plain.support_x - 0.25) / 2.0)
    augmented = EpisodeSampler(split, shape, preprocessing=PRE, seed=0, augment=["flip", "crop", "jitter"]).sample(3)
    assert augmented.support_x.shape == plain.support_x.shape
    assert not torch.equal(augmented.support_x, plain.support_x)
    assert augmented.support_x.min() >= 0 and augmented.support_x.max() <= 1


def test_float_copy_and_uint8_paths_give_the_same_batches(monkeypatch):
    import autometa.data.episodes as episodes

    split, shape = make_split(), EpisodeShape(ways=3, shots=2, queries=2)
    pre = Preprocessing(channels=1, image_size=4, mean=[0.3], std=[0.2])
    converted_once = EpisodeSampler(split, shape, preprocessing=pre, seed=5)
    assert converted_once.images.dtype == torch.float32
    monkeypatch.setattr(episodes, "FLOAT_COPY_LIMIT", 0)
    per_batch = EpisodeSampler(split, shape, preprocessing=pre, seed=5)
    assert per_batch.images.dtype == torch.uint8
    a, b = converted_once.sample(4), per_batch.sample(4)
    assert torch.allclose(a.support_x, b.support_x) and torch.allclose(a.query_x, b.query_x)
    assert torch.equal(a.query_y, b.query_y)


def test_a_subclass_can_draw_its_own_tasks_and_keep_the_batching():
    class FirstClasses(EpisodeSampler):
        def draw_indices(self, batch_size: int) -> torch.Tensor:  # classes 0..N-1 in order, first images
            per_class = torch.arange(self.shape.shots + self.shape.queries)
            return torch.stack([per_class + 6 * c for c in range(self.shape.ways)]).expand(batch_size, -1, -1)

    shape = EpisodeShape(ways=2, shots=1, queries=2)
    batch = FirstClasses(make_split(), shape, preprocessing=PRE, seed=0).sample(3)
    assert image_ids(batch.support_x).tolist() == [[0, 6]] * 3
    assert image_ids(batch.query_x).tolist() == [[1, 2, 7, 8]] * 3
    assert batch.query_y[0].tolist() == [0, 0, 1, 1]


def grouped_split() -> ImageClasses:
    """12 classes in three groups of 5, 4 and 3 classes."""
    split = make_split(classes=12)
    split.groups = ["alpha"] * 5 + ["beta"] * 4 + ["gamma"] * 3
    return split


def groups_of(split: ImageClasses, indices: torch.Tensor) -> set[str]:
    return {split.groups[int(split.labels[i])] for i in indices.flatten()}


def test_within_group_episodes_never_mix_groups_and_skip_groups_too_small():
    split = grouped_split()
    shape = EpisodeShape(ways=4, shots=1, queries=2, within_group=True)
    episodes = fixed_episodes(split, shape, 60, seed=0, preprocessing=PRE)
    drawn = [groups_of(split, episodes.image_indices(i)) for i in range(60)]
    assert all(len(groups) == 1 for groups in drawn)
    assert {next(iter(g)) for g in drawn} == {"alpha", "beta"}  # gamma has 3 classes: never a 4-way episode
    batch_groups = set()
    sampler = EpisodeSampler(split, shape, preprocessing=PRE, seed=1)
    for _ in range(10):
        indices = sampler.draw_indices(6)
        for task in indices:
            assert len(groups_of(split, task)) == 1
            batch_groups |= groups_of(split, task)
    assert batch_groups == {"alpha", "beta"}
    again = fixed_episodes(split, shape, 60, seed=0, preprocessing=PRE)
    assert all(torch.equal(episodes.image_indices(i), again.image_indices(i)) for i in range(60))


def test_mixed_episodes_are_unchanged_by_groups():
    """Seeded evaluation episodes of earlier studies stay the same: groups matter only when asked for."""
    shape = EpisodeShape(ways=4, shots=1, queries=2)
    plain, grouped = make_split(classes=12), grouped_split()
    a = fixed_episodes(plain, shape, 20, seed=3, preprocessing=PRE)
    b = fixed_episodes(grouped, shape, 20, seed=3, preprocessing=PRE)
    assert all(torch.equal(a.image_indices(i), b.image_indices(i)) for i in range(20))
    assert any(len(groups_of(grouped, b.image_indices(i))) > 1 for i in range(20))


def test_within_group_shapes_no_group_can_fill_are_one_line():
    split = grouped_split()
    with pytest.raises(DataError, match="largest group 'alpha' has 5 classes .* within-group episodes ask for 6 ways"):
        check_episode_shape(split, "test", EpisodeShape(ways=6, shots=1, queries=2, within_group=True))
    split.groups = []
    with pytest.raises(DataError, match="has no groups"):
        check_episode_shape(split, "test", EpisodeShape(ways=2, within_group=True))

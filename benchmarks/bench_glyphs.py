"""Rendering time of the default ``glyphs`` data set, its size, and how hard its tasks are.

    python benchmarks/bench_glyphs.py

Renders the default glyphs from scratch (no cache) and reports the wall time, the
classes and alphabets per split, and the accuracy (mean +- 95% CI over 600 fixed
meta-test episodes) of a nearest-neighbour classifier on raw pixels for 5-way
1-shot and 5-way 5-shot; the same baseline on the Omniglot small sets is printed
beside it for calibration.
"""

from __future__ import annotations

import os
import time

import torch
from shared_data import OMNIGLOT_ROOT

from autometa.data import SPLITS, Episode, SplitData, fixed_episodes, load_data
from autometa.learning import evaluate
from autometa.plugins import default_host
from autometa.recipe import DataSection, EpisodeShape
from autometa_plugins.datasets.glyphs import GlyphsOptions, render_glyphs

OMNIGLOT = OMNIGLOT_ROOT


def nearest_neighbour_logits(episode: Episode) -> torch.Tensor:
    """Minus the squared pixel distance from each query to each class's nearest support image."""
    distances = torch.cdist(episode.query_x.flatten(1), episode.support_x.flatten(1)).square()
    per_class = torch.full((len(distances), episode.ways), float("inf"))
    per_class = per_class.scatter_reduce(1, episode.support_y.expand_as(distances), distances, "amin")
    return -per_class


def baseline(data: SplitData, name: str) -> None:
    for shots in (1, 5):
        episodes = fixed_episodes(data.test, EpisodeShape(ways=5, shots=shots, queries=15), 600, seed=0,
                                  preprocessing=data.preprocessing, split_name="test")
        result = evaluate(nearest_neighbour_logits, episodes)
        print(f"{name}: pixel nearest neighbour, 5-way {shots}-shot, meta-test: {result}")


def main() -> None:
    start, cpu_start = time.perf_counter(), time.process_time()
    glyphs = render_glyphs(GlyphsOptions())
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    alphabets = {s: len(set(glyphs.split(s).groups)) for s in SPLITS}
    print(f"glyphs (default options) rendered in {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU "
          f"({torch.get_num_threads()} torch threads, load average {os.getloadavg()[0]:.1f})")
    print(f"classes {glyphs.class_counts()} (total {sum(glyphs.class_counts().values())}), "
          f"alphabets {alphabets} (total {sum(alphabets.values())}), "
          f"images per class {int(glyphs.train.images_per_class().min())}")
    baseline(glyphs, "glyphs")
    if (OMNIGLOT / "images_background_small1.zip").is_file():
        baseline(load_data(DataSection(dataset={"omniglot": {"root": str(OMNIGLOT)}}), default_host().registry), "omniglot small sets")


if __name__ == "__main__":
    main()

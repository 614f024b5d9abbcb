"""How long does sampling a batch of episodes take from resident tensors?

    python benchmarks/bench_episodes.py [--batches 200]

Measures ``EpisodeSampler.sample(32)`` for 5-way 1-shot 15-query tasks (the
acceptance bar: under 5 ms on CPU) and 20-way 5-shot 15-query tasks, on the
Omniglot small sets (28x28, read in place) and on the default glyphs (rendered
or read from the cache), with 1 and 2 torch threads. Prints the wall-clock median
and 10th/90th percentiles and the median CPU time of this process (on a shared,
overloaded machine the CPU time is what the sampler itself costs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from shared_data import OMNIGLOT_ROOT

from autometa.data import EpisodeSampler, default_cache_dir, load_data
from autometa.plugins import default_host
from autometa.recipe import DataSection, EpisodeShape

OMNIGLOT = OMNIGLOT_ROOT


def time_sampling(sampler: EpisodeSampler, batch_size: int, batches: int) -> tuple[list[float], list[float]]:
    """Sorted wall-clock and CPU (all threads of this process) milliseconds per ``sample`` call."""
    for _ in range(10):  # warm-up
        sampler.sample(batch_size)
    wall, cpu = [], []
    for _ in range(batches):
        start, cpu_start = time.perf_counter(), time.process_time()
        sampler.sample(batch_size)
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - cpu_start) * 1e3)
    return sorted(wall), sorted(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    datasets = {
        "omniglot-small": DataSection(dataset={"omniglot": {"root": str(OMNIGLOT)}}),
        "glyphs": DataSection(dataset="glyphs"),
    }
    shapes = {"5w1s15q": EpisodeShape(ways=5, shots=1, queries=15), "20w5s15q": EpisodeShape(ways=20, shots=5, queries=15)}
    print(f"load average {os.getloadavg()[0]:.1f}; milliseconds per sample(32)")
    print(f"{'data':16} {'shape':9} {'threads':>7} {'wall median':>11} {'p10':>6} {'p90':>6} {'CPU median':>10}")
    for data_name, section in datasets.items():
        data = load_data(section, default_host().registry, cache_dir=default_cache_dir())
        for shape_name, shape in shapes.items():
            for threads in (1, 2):
                torch.set_num_threads(threads)
                sampler = EpisodeSampler(data.train, shape, preprocessing=data.preprocessing, seed=0)
                wall, cpu = time_sampling(sampler, 32, args.batches)
                p10, p90 = wall[len(wall) // 10], wall[9 * len(wall) // 10]
                print(f"{data_name:16} {shape_name:9} {threads:7} {statistics.median(wall):11.2f} "
                      f"{p10:6.2f} {p90:6.2f} {statistics.median(cpu):10.2f}")

if __name__ == "__main__":
    main()

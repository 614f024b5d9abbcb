"""Meta-training throughput of the metric and amortized learners, side by side.

Times ``learner.meta_step`` plus the Adam update on Conv4-64 at 28x28 grayscale,
5-way 1-shot 15-query (the Omniglot shape), for ProtoNet, Matching Networks,
Siamese and the task-conditioned network. Images are random: the cost of a step does not depend on their
content, and no data set is needed. Learners are interleaved round by round and
the median over rounds is reported, so machine noise hits all of them alike.

    nice python benchmarks/bench_metric_learners.py            # the recorded run
    nice python benchmarks/bench_metric_learners.py --rounds 1 --meta-batch 2   # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from autometa.data import TaskBatch
from autometa.plugins import default_host

CANDIDATES: dict[str, tuple[str, dict]] = {
    "ProtoNet / Conv4-64": ("protonet", {"conv4": {"width": 64}}),
    "Matching / Conv4-64": ("matching", {"conv4": {"width": 64}}),
    "Siamese / Conv4-64": ("siamese", {"conv4": {"width": 64}}),
    "Task-conditioned / Conv4-64": ("task_conditioned", {"conv4": {"width": 64}}),
}


def random_batch(tasks: int, ways: int, shots: int, queries: int, size: int) -> TaskBatch:
    labels = lambda per_class: torch.arange(ways).repeat_interleave(per_class).expand(tasks, -1)  # noqa: E731
    return TaskBatch(
        torch.rand(tasks, ways * shots, 1, size, size), labels(shots),
        torch.rand(tasks, ways * queries, 1, size, size), labels(queries), ways,
    )


def seconds_per_step(learner, optimizer, batch: TaskBatch, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        learner.meta_step(batch)
        optimizer.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median reported)")
    parser.add_argument("--steps", type=int, default=1, help="meta-steps per learner per round")
    parser.add_argument("--meta-batch", type=int, default=8)
    args = parser.parse_args()

    torch.manual_seed(0)
    registry = default_host().registry
    batch = random_batch(args.meta_batch, ways=5, shots=1, queries=15, size=28)
    runs = {}
    for label, (learner_name, backbone_ref) in CANDIDATES.items():
        backbone = registry.create("backbone", backbone_ref, in_channels=1, image_size=28)
        learner = registry.create("learner", learner_name, backbone=backbone, ways=5, registry=registry).train()
        optimizer = torch.optim.Adam(learner.parameters(), lr=1e-3)
        seconds_per_step(learner, optimizer, batch, 1)  # warm-up
        runs[label] = (learner, optimizer, [])
    for _ in range(args.rounds):
        for learner, optimizer, times in runs.values():
            times.append(seconds_per_step(learner, optimizer, batch, args.steps))

    print(f"5-way 1-shot 15-query, 28x28, meta-batch {args.meta_batch}, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} rounds x {args.steps} steps")
    print("| learner / backbone | tasks/s (median) | min-max |")
    print("|---|---|---|")
    for label, (_, _, times) in runs.items():
        rates = [args.meta_batch / t for t in times]
        print(f"| {label} | {statistics.median(rates):.1f} | {min(rates):.1f}-{max(rates):.1f} |")


if __name__ == "__main__":
    main()

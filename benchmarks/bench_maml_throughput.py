"""Second-order MAML meta-training throughput: autometa's functional inner loop vs a learn2learn-style loop.

The acceptance shape: Conv4-64 with batch norm at 28x28 grayscale, 5-way 1-shot
15-query, one inner step (SGD, lr 0.4), meta-batch 32, second order, a learned
head (classic MAML). Four ways to compute the same meta-gradient, interleaved
round by round (median reported, so machine noise hits all of them alike):

* ``per-task loop (learn2learn style)``: for each task, clone the model
  (``learn2learn.utils.clone_module``: differentiable parameter clones), take the
  inner step with ``torch.autograd.grad(create_graph=True)``, backward the query
  loss; PyTorch's default (NCHW) layout, as a user would write it;
* ``per-task loop, channels_last``: the same loop with NHWC convolution weights
  (faster for plain forward and backward on oneDNN; is it for second order?);
* ``autometa maml, eager``: ``learner.meta_step`` (``torch.func.grad`` inner loop);
* ``autometa maml, compile: true``: the same, with the per-task loss ``torch.compile``d.

Images are random: the cost of a step does not depend on their content. A check
first asserts that all give the same meta-gradient.

    python benchmarks/bench_maml_throughput.py --rounds 3                 # the recorded run
    python benchmarks/bench_maml_throughput.py --meta-batch 2 --rounds 1  # a smoke run
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from autometa.data import TaskBatch
from autometa.plugins import default_host

INNER_LR = 0.4


def random_batch(tasks: int, ways: int = 5, shots: int = 1, queries: int = 15, size: int = 28) -> TaskBatch:
    labels = lambda per_class: torch.arange(ways).repeat_interleave(per_class).expand(tasks, -1)  # noqa: E731
    return TaskBatch(
        torch.rand(tasks, ways * shots, 1, size, size), labels(shots),
        torch.rand(tasks, ways * queries, 1, size, size), labels(queries), ways,
    )


def clone_module(module: nn.Module) -> nn.Module:
    """learn2learn.utils.clone_module: a shallow copy whose parameters are differentiable clones."""
    clone = copy.copy(module)
    clone._parameters = {name: p.clone() if p is not None else None for name, p in module._parameters.items()}
    clone._buffers = dict(module._buffers)
    clone._modules = {name: clone_module(child) for name, child in module._modules.items()}
    return clone


def update_module(module: nn.Module, updates: dict[str, torch.Tensor], prefix: str = "") -> None:
    """learn2learn.utils.update_module: replace each parameter by its updated tensor."""
    for name in list(module._parameters):
        module._parameters[name] = updates[prefix + name]
    for name, child in module._modules.items():
        update_module(child, updates, f"{prefix}{name}.")


class Classifier(nn.Module):
    """The baseline's model: the same backbone and head as the learner's, as one module."""

    def __init__(self, backbone: nn.Module, head: nn.Linear):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


def per_task_loop_step(model: nn.Module, batch: TaskBatch) -> None:
    for i in range(len(batch)):
        learner = clone_module(model)
        params = dict(learner.named_parameters())
        support_loss = F.cross_entropy(learner(batch.support_x[i]), batch.support_y[i])
        grads = torch.autograd.grad(support_loss, list(params.values()), create_graph=True)
        update_module(learner, {name: p - INNER_LR * g for (name, p), g in zip(params.items(), grads)})
        query_loss = F.cross_entropy(learner(batch.query_x[i]), batch.query_y[i])
        (query_loss / len(batch)).backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median reported)")
    parser.add_argument("--meta-batch", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads (on the shared 2-core machine, 2 threads under load ran ~10x slower than 1)",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    registry = default_host().registry
    backbone = registry.create("backbone", {"conv4": {"width": 64}}, in_channels=1, image_size=28)
    options = {"inner_steps": 1, "inner_lr": INNER_LR, "head_init": "learned"}
    eager = registry.create("learner", {"maml": options}, backbone=backbone, ways=5, registry=registry)
    compiled = copy.deepcopy(eager)
    compiled.options = compiled.options.model_copy(update={"compile": True})
    baseline = Classifier(copy.deepcopy(eager.backbone), copy.deepcopy(eager.head))
    baseline_nhwc = copy.deepcopy(baseline).to(memory_format=torch.channels_last)
    batch = random_batch(args.meta_batch)
    small = random_batch(2)  # warm-up: every task has the same shapes, so two tasks compile everything

    loop = "per-task loop (learn2learn style)"
    candidates = {  # name: (module holding the gradients, meta-step on a batch)
        loop: (baseline, lambda b: per_task_loop_step(baseline, b)),
        "per-task loop, channels_last": (baseline_nhwc, lambda b: per_task_loop_step(baseline_nhwc, b)),
        "autometa maml, eager": (eager, eager.meta_step),
        "autometa maml, compile: true": (compiled, compiled.meta_step),
    }

    # Warm-up (compilation happens here) and a check that all compute the same meta-gradient.
    gradients = {}
    for name, (model, step) in candidates.items():
        start = time.perf_counter()
        model.zero_grad(set_to_none=True)
        step(small)
        print(f"warm-up {name}: {time.perf_counter() - start:.1f} s", flush=True)
        probes = ("backbone.features.0.0.weight", "head.weight")
        gradients[name] = torch.cat([model.get_parameter(p).grad.flatten() for p in probes])
    for name, gradient in gradients.items():
        error = float((gradient - gradients[loop]).norm() / gradients[loop].norm())
        print(f"meta-gradient relative difference, {name}: {error:.1e}")
        assert error < 1e-3, f"{name} computes another meta-gradient"

    tasks_per_second: dict[str, list[float]] = {name: [] for name in candidates}
    for round_ in range(args.rounds):
        for name, (model, step) in candidates.items():
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            step(batch)
            tasks_per_second[name].append(args.meta_batch / (time.perf_counter() - start))
        print(f"round {round_ + 1}: " + ", ".join(f"{n}: {v[-1]:.2f}" for n, v in tasks_per_second.items()), flush=True)

    base = statistics.median(tasks_per_second[loop])
    print("\n| method | tasks/s (median) | vs per-task loop |\n|---|---|---|")
    for name, values in tasks_per_second.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / base:.2f}x |")
    for name in list(candidates)[1:]:
        ratios = [a / b for a, b in zip(tasks_per_second[name], tasks_per_second[loop])]
        print(f"per-round ratio, {name}: median {statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x")


if __name__ == "__main__":
    main()

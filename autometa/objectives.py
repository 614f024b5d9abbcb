"""What a search optimises: accuracy, and the costs of the model it would ship.

A single-objective search maximises mean validation accuracy. A multi-objective
search (``search.objectives: [accuracy, params]`` ...) trades it against the
cost of the *deployable predictor* (``learner.deployable_predictor()``), measured on
one evaluation-shaped episode:

* ``params``: parameter count;
* ``flops``: floating-point operations of one forward pass (``torch.utils.flop_counter``);
* ``latency``: median CPU wall time of one forward pass, in milliseconds.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from autometa.data import Preprocessing
from autometa.recipe import EpisodeShape

#: Objective name -> Optuna direction.
DIRECTIONS: dict[str, str] = {
    "accuracy": "maximize",
    "params": "minimize",
    "flops": "minimize",
    "latency": "minimize",
}

LATENCY_REPEATS = 20


def count_params(predictor: nn.Module) -> int:
    """Number of parameters the shipped predictor holds."""
    return sum(p.numel() for p in predictor.parameters())


def example_inputs(shape: EpisodeShape, preprocessing: Preprocessing) -> tuple[torch.Tensor, ...]:
    """A blank episode of the evaluation shape: ``(support, support_onehot, query)``."""
    ways, shots, queries = shape.ways, shape.shots, shape.queries
    image = (preprocessing.channels, preprocessing.image_size, preprocessing.image_size)
    support = torch.zeros(ways * shots, *image)
    onehot = torch.eye(ways).repeat_interleave(shots, dim=0)
    query = torch.zeros(ways * queries, *image)
    return support, onehot, query


def count_flops(predictor: nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """FLOPs of one forward pass on ``inputs`` (matmuls and convolutions, as PyTorch counts them)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        predictor(*inputs)
    return int(counter.get_total_flops())


def measure_latency_ms(predictor: nn.Module, inputs: tuple[torch.Tensor, ...], repeats: int = LATENCY_REPEATS) -> float:
    """Median CPU wall time of one forward pass, after one warm-up call."""
    with torch.no_grad():
        predictor(*inputs)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            predictor(*inputs)
            times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


def measure_costs(
    predictor: nn.Module, names: list[str], shape: EpisodeShape, preprocessing: Preprocessing
) -> dict[str, float]:
    """The cost objectives in ``names`` (``accuracy`` is skipped) for a predictor, on the CPU."""
    predictor = predictor.to("cpu").eval()
    inputs = example_inputs(shape, preprocessing)
    measures = {
        "params": lambda: float(count_params(predictor)),
        "flops": lambda: float(count_flops(predictor, inputs)),
        "latency": lambda: measure_latency_ms(predictor, inputs),
    }
    return {name: measures[name]() for name in names if name != "accuracy"}

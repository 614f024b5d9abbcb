"""The cost of a deployable predictor, counted in one place: parameters, FLOPs and CPU latency.

The search's cost objectives (``search.objectives: [accuracy, latency]``) and the
model card's stage table both measure here, on an evaluation-shaped episode and
with one latency protocol (:data:`LATENCY_WARMUP` untimed calls, then the median
and 95th percentile of :data:`LATENCY_RUNS` timed calls under
``torch.inference_mode``), so the two report the same figure for one predictor.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from autometa.data.dataset import Preprocessing
from autometa.recipe.schema import EpisodeShape

#: A predictor's three inputs: support images ``[S,C,H,W]``, one-hot labels ``[S,N]``, queries ``[Q,C,H,W]``.
PredictorInputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]

LATENCY_WARMUP = 5
LATENCY_RUNS = 50


def example_inputs(shape: EpisodeShape, preprocessing: Preprocessing) -> PredictorInputs:
    """A seeded random episode of ``shape``: ``(support, support_onehot, query)`` of the data's image size.

    Random pixels, not zeros: an all-zero episode runs faster than real images
    (zero activations through every layer), so latencies measured on it
    understated what a real episode costs.
    """
    image = (preprocessing.channels, preprocessing.image_size, preprocessing.image_size)
    generator = torch.Generator().manual_seed(0)
    support = torch.rand(shape.ways * shape.shots, *image, generator=generator)
    onehot = torch.eye(shape.ways).repeat_interleave(shape.shots, dim=0)
    query = torch.rand(shape.ways * shape.queries, *image, generator=generator)
    return support, onehot, query


def count_parameters(module: nn.Module) -> int:
    """Number of stored parameter values (buffers excluded)."""
    return sum(p.numel() for p in module.parameters())


def count_nonzero_parameters(module: nn.Module) -> int:
    """Parameter values that are not exactly zero (what unstructured pruning lowers)."""
    return sum(int(torch.count_nonzero(p)) for p in module.parameters())


def count_flops(predictor: nn.Module, inputs: PredictorInputs) -> int:
    """FLOPs of one episode's forward pass, counted by ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        predictor(*inputs)
    return int(counter.get_total_flops())


@dataclass
class Latency:
    """Wall time of one episode's forward pass on this machine's CPU, in milliseconds."""

    median_ms: float
    p95_ms: float
    runs: int


def measure_latencies(
    predictors: Sequence[Callable[..., Any]], inputs: PredictorInputs, *,
    runs: int = LATENCY_RUNS, warmup: int = LATENCY_WARMUP,
) -> list[Latency]:
    """Median and 95th percentile of each predictor over ``runs`` timed calls.

    The predictors are called in turn, so a busy machine slows them alike and
    their ratios stay meaningful; ``warmup`` untimed rounds come first.
    """
    times: list[list[float]] = [[] for _ in predictors]
    with torch.inference_mode():
        for i in range(warmup + runs):
            for predictor, spent in zip(predictors, times):
                start = time.perf_counter()
                predictor(*inputs)
                if i >= warmup:
                    spent.append((time.perf_counter() - start) * 1000)
    return [Latency(median_ms=statistics.median(t), p95_ms=percentile(t, 0.95), runs=runs) for t in times]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_latency(predictor: Callable[..., Any], inputs: PredictorInputs) -> Latency:
    """One predictor's latency under the protocol of :func:`measure_latencies`."""
    return measure_latencies([predictor], inputs)[0]

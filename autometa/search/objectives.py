"""What a search optimises: accuracy, and the costs of the model it would ship.

A single-objective search maximises mean validation accuracy. A multi-objective
search (``search.objectives: [accuracy, params]`` ...) trades it against the
cost of the *deployable predictor* (``learner.deployable_predictor()``), measured
by :mod:`autometa.deploy.measure` on one evaluation-shaped episode, as the model
card measures it:

* ``params``: parameter count;
* ``flops``: floating-point operations of one forward pass (``torch.utils.flop_counter``);
* ``latency``: median CPU wall time of one forward pass, in milliseconds.
"""

from __future__ import annotations

from torch import nn

from autometa.data.dataset import Preprocessing
from autometa.deploy.measure import count_flops, count_parameters, example_inputs, measure_latency
from autometa.recipe.schema import EpisodeShape

#: Objective name -> Optuna direction.
DIRECTIONS: dict[str, str] = {
    "accuracy": "maximize",
    "params": "minimize",
    "flops": "minimize",
    "latency": "minimize",
}


def measure_costs(
    predictor: nn.Module, names: list[str], shape: EpisodeShape, preprocessing: Preprocessing
) -> dict[str, float]:
    """The cost objectives in ``names`` (``accuracy`` is skipped) for a predictor, on the CPU."""
    predictor = predictor.to("cpu").eval()
    inputs = example_inputs(shape, preprocessing)
    measures = {
        "params": lambda: float(count_parameters(predictor)),
        "flops": lambda: float(count_flops(predictor, inputs)),
        "latency": lambda: measure_latency(predictor, inputs).median_ms,
    }
    return {name: measures[name]() for name in names if name != "accuracy"}

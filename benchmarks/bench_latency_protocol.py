"""The search's latency objective and the model card's latency of one predictor: the same figure?

Both now measure through ``autometa.deploy.measure`` with one protocol. This builds
one predictor per learner (untrained: latency does not depend on the weights),
then alternates, ``--rounds`` times, the two real code paths on it:

* the search objective: ``autometa.search.objectives.measure_costs(..., ["latency"])``;
* the model card: ``autometa.deploy.pipeline.compress`` (no stages), whose ``original``
  row is what ``model_card.md`` shows;

and reports each path's median over the rounds and their ratio.

    python benchmarks/bench_latency_protocol.py --rounds 7
"""

from __future__ import annotations

import argparse
import statistics

import torch

from autometa.data import Preprocessing, fixed_episodes
from autometa.deploy.pipeline import compress
from autometa.deploy.stages import CompressionContext, frozen_copy
from autometa.learning import build_learner
from autometa.plugins import default_host
from autometa.recipe import EpisodeShape, Strategy
from autometa.search.objectives import measure_costs

SHAPE = EpisodeShape(ways=5, shots=1, queries=15)
PRE = Preprocessing(channels=1, image_size=28)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--learners", nargs="+", default=["protonet", "anil", "maml"])
    args = parser.parse_args()
    registry = default_host().registry
    images = torch.randint(0, 256, (SHAPE.ways * 20, 1, 28, 28), dtype=torch.uint8)
    from autometa.data import ImageClasses

    split = ImageClasses(images, torch.arange(SHAPE.ways).repeat_interleave(20), [f"c{i}" for i in range(5)])
    episodes = list(fixed_episodes(split, SHAPE, 2, seed=0, preprocessing=PRE))
    print(f"torch threads: {torch.get_num_threads()}; {args.rounds} rounds; 5-way 1-shot 15-query, 28x28")
    print("| learner | search objective, median ms | model card, median ms | card / objective |")
    print("|---|---|---|---|")
    for name in args.learners:
        torch.manual_seed(0)
        strategy = Strategy(learner=name, backbone={"conv4": {"width": 32}})
        predictor = build_learner(strategy, PRE, registry).deployable_predictor().eval()
        context = CompressionContext(frozen_copy(predictor), lambda: episodes[0], episodes, PRE, registry)
        objective, card = [], []
        for _ in range(args.rounds):
            objective.append(measure_costs(predictor, ["accuracy", "latency"], SHAPE, PRE)["latency"])
            card.append(compress(predictor, None, context, episodes).stages[0].latency.median_ms)
        a, b = statistics.median(objective), statistics.median(card)
        print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()

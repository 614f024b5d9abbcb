"""Omniglot 5-way 1-shot accuracy of the metric and amortized learners.

Meta-trains ProtoNet, Matching Networks, Siamese and the task-conditioned
network on Conv4 with the trainer ``autometa train`` uses, on the alphabets of
Lake et al.'s ``images_background_small1`` (28x28, rotations by 90/180/270 degrees
as extra classes), and tests on alphabets of ``images_background_small2`` that
small1 lacks (the split of ``bench_omniglot.py``). Reports test accuracy with the
95% CI over fixed test episodes and the trainer's meta-training throughput.
Every learner gets the same step budget and the same episodes.

    nice python benchmarks/bench_metric_omniglot.py                      # the recorded run
    nice python benchmarks/bench_metric_omniglot.py --steps 2 --test-episodes 4   # a smoke run
"""

from __future__ import annotations

import argparse
import json

import torch
from shared_data import OMNIGLOT_ROOT

from autometa.data import load_data
from autometa.learning import evaluate_learner, split_episodes, train
from autometa.plugins import default_host
from autometa.recipe import Recipe

OMNIGLOT = OMNIGLOT_ROOT
DATASET = {
    "omniglot": {
        "root": str(OMNIGLOT),
        "train": ["images_background_small1"],
        "val": ["images_background_small2/Japanese_(katakana)"],
        "test": ["images_background_small2/Sanskrit", "images_background_small2/Tagalog"],
        "rotations": True,
        "image_size": 28,
    }
}
LEARNERS = {
    "ProtoNet": "protonet",
    "Matching": "matching",
    "Siamese": "siamese",
    "Task-conditioned": "task_conditioned",
}
#: Vinyals et al. 2016 and Koch et al. 2015 report 5-way 1-shot on full Omniglot (our data differ).
PAPERS = {"ProtoNet": "98.8 (Snell et al. 2017)", "Matching": "98.1 (Vinyals et al. 2016)", "Siamese": "97.3 (Koch et al. 2015, via Vinyals et al.)"}


def make_recipe(learner: str, args: argparse.Namespace) -> Recipe:
    return Recipe.model_validate(
        {
            "name": "bench-metric-omniglot",
            "seed": args.seed,
            "device": "cpu",
            "data": {"dataset": DATASET},
            "evaluation": {"ways": 5, "shots": 1, "queries": 15, "val_episodes": 10, "test_episodes": args.test_episodes},
            "strategy": {
                "learner": learner,
                "backbone": {"conv4": {"width": args.width}},
                "train_episodes": {"ways": 5, "shots": 1, "queries": args.train_queries},
                "meta_batch_size": args.meta_batch,
                "outer_lr": 1e-3,
            },
            "training": {"meta_steps": args.steps, "eval_every": args.steps, "checkpoint_every": args.steps},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="meta-steps per learner")
    parser.add_argument("--meta-batch", type=int, default=4)
    parser.add_argument("--width", type=int, default=64, help="Conv4 width")
    parser.add_argument("--train-queries", type=int, default=5)
    parser.add_argument("--test-episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    data = load_data(make_recipe("protonet", args).data, default_host().registry)
    print({name: data.split(name).num_classes for name in ("train", "val", "test")}, "classes", flush=True)
    lines = [
        "| learner | Conv4 width | meta-steps x tasks | 5-way 1-shot test accuracy (95% CI) | meta-train tasks/s | paper (full Omniglot) |",
        "|---|---|---|---|---|---|",
    ]
    for label, name in LEARNERS.items():
        recipe = make_recipe(name, args)
        result = train(recipe, recipe.fixed_strategy(), data, default_host().registry)
        test = evaluate_learner(result.learner, split_episodes(recipe, data, "test"), result.device)
        print(json.dumps({"learner": label, "test": test.mean, "ci95": test.ci95, "tasks_per_second": result.tasks_per_second}), flush=True)
        lines.append(
            f"| {label} | {args.width} | {args.steps} x {args.meta_batch} | {100 * test.mean:.1f} +- {100 * test.ci95:.1f} "
            f"| {result.tasks_per_second:.1f} | {PAPERS.get(label, '-')} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""MAML with the learned inner optimizer vs plain SGD inner steps, at equal inner step counts.

For each inner step count (1 and 3 by default) both variants meta-train the same
strategy (same seed, same task stream, same budget, same inner_lr: the learned
rule starts as exactly that SGD and learns a bounded correction), then are
scored on the same fixed, seeded test episodes of novel classes (mean and 95% CI)
in eval mode (gradient learners normalise with batch statistics there too).

    nice python benchmarks/bench_learned_optimizer.py --steps 200
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import yaml
from shared_data import OMNIGLOT_ROOT

from autometa.data import load_data
from autometa.learning import evaluate_learner, split_episodes, train
from autometa.plugins import default_host
from autometa.recipe import DataSection, EvaluationSection, Recipe, TrainingSection

#: The shared Omniglot small sets, read in place.
OMNIGLOT = {"omniglot": {"root": str(OMNIGLOT_ROOT)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=yaml.safe_load, default=OMNIGLOT, help="data set reference, as in a recipe")
    parser.add_argument("--steps", type=int, default=200, help="meta-updates per run")
    parser.add_argument("--inner-steps", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--inner-lr", type=float, default=0.4)
    parser.add_argument("--width", type=int, default=32, help="conv4 width")
    parser.add_argument("--test-episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)  # the benchmark machine's 2 cores are shared
    data = load_data(DataSection(dataset=args.data), default_host().registry)
    results = {}
    for inner_steps in args.inner_steps:
        for rule in ("sgd", "learned"):
            recipe = Recipe(
                name="bench-learned-optimizer",
                seed=args.seed,
                device="cpu",
                data=DataSection(dataset=args.data),
                evaluation=EvaluationSection(ways=5, shots=1, queries=5, val_episodes=5,
                                             test_episodes=args.test_episodes),
                strategy={
                    "learner": {"maml": {"inner_steps": inner_steps, "inner_lr": args.inner_lr,
                                         "inner_optimizer": rule}},
                    "backbone": {"conv4": {"width": args.width}},
                    "train_episodes": {"ways": 5, "shots": 1, "queries": 5},
                    "meta_batch_size": 4,
                    "outer_lr": 1e-3,
                },
                training=TrainingSection(meta_steps=args.steps, eval_every=args.steps, checkpoint_every=args.steps),
            )
            started = time.perf_counter()
            result = train(recipe, recipe.fixed_strategy(), data, default_host().registry)
            test = evaluate_learner(result.learner, split_episodes(recipe, data, "test"), result.device)
            seconds = time.perf_counter() - started
            results[f"{rule} x{inner_steps}"] = {"test": test.mean, "ci95": test.ci95,
                                                 "tasks_per_second": round(result.tasks_per_second, 1),
                                                 "seconds": round(seconds, 1)}
            print(f"inner steps {inner_steps}  {rule:8s} test {test.mean:.3f} +- {test.ci95:.3f}  "
                  f"({result.tasks_per_second:.1f} tasks/s, {seconds:.0f} s)", flush=True)
    print(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()

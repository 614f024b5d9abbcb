"""Omniglot small sets: few-shot accuracy and meta-training throughput of the core learners.

Trains ProtoNet, MAML (1 and 5 inner steps, second order) and ANIL on Conv4 with
the same trainer ``autometa train`` uses, on the meta-train alphabets of Lake et
al.'s ``images_background_small1``, and tests on alphabets of
``images_background_small2`` that small1 does not have (28x28, rotations by
90/180/270 degrees as extra classes). For each learner and each of 5-way 1-shot
and 20-way 1-shot it reports test accuracy with the 95% CI over fixed test
episodes and meta-training throughput (tasks/s, sampling included, validation
excluded). Accuracy is scored as ``autometa train`` scores it (``evaluate_learner``);
gradient learners normalise with each episode's batch statistics, as Finn et al.
evaluate MAML.

    nice python benchmarks/bench_omniglot.py --threads 1               # the recorded run
    nice python benchmarks/bench_omniglot.py --threads 1 --scale 0.03  # a smoke run

The step budget is fixed per learner (see ``LEARNERS``); ``--scale`` multiplies
every budget. On a shared, busy CPU one intra-op thread is several times faster
than two (threads wait on each other when the cores are oversubscribed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from shared_data import OMNIGLOT_ROOT

from autometa.data import load_data
from autometa.learning import evaluate_learner, split_episodes, train
from autometa.plugins import default_host
from autometa.recipe import Recipe

OMNIGLOT = OMNIGLOT_ROOT
DATASET_OPTIONS = {
    "root": str(OMNIGLOT),
    "train": ["images_background_small1"],
    "val": ["images_background_small2/Japanese_(katakana)"],
    "test": ["images_background_small2/Sanskrit", "images_background_small2/Tagalog"],
    "rotations": True,
    "image_size": 28,
}

#: label -> (learner reference, meta-steps per ways), sized so the whole run fits
#: ~30 minutes on a shared 2-core CPU. Second-order MAML with 5 inner steps costs
#: ~4x MAML with 1 per task, so it gets fewer steps.
LEARNERS: dict[str, tuple[dict, dict[int, int]]] = {
    "ProtoNet": ({"protonet": {}}, {5: 300, 20: 80}),
    "MAML, 1 step": ({"maml": {"inner_steps": 1, "inner_lr": 0.4}}, {5: 200, 20: 40}),
    "MAML, 5 steps": ({"maml": {"inner_steps": 5, "inner_lr": 0.1}}, {5: 60, 20: 15}),
    "ANIL, 5 steps": ({"anil": {"inner_steps": 5, "inner_lr": 0.1}}, {5: 200, 20: 40}),
}

#: The original papers' 1-shot accuracies on full Omniglot (1200 train / 423 test
#: characters, Vinyals et al.'s split), for reference only: our data differ.
PAPERS = {
    ("ProtoNet", 5): "98.8 (Snell et al. 2017)",
    ("ProtoNet", 20): "96.0 (Snell et al. 2017)",
    ("MAML, 1 step", 5): "98.7 +- 0.4 (Finn et al. 2017, 1 step)",
    ("MAML, 5 steps", 20): "95.8 +- 0.3 (Finn et al. 2017, 5 steps)",
    ("ANIL, 5 steps", 20): "96.2 +- 0.5 (Raghu et al. 2020)",
}


#: Query images per class in test episodes (fewer at 20 ways, as Snell et al.);
#: training episodes use TRAIN_QUERIES, to fit the CPU budget.
QUERIES = {5: 15, 20: 5}
TRAIN_QUERIES = 5


def make_recipe(learner: dict, ways: int, steps: int, args: argparse.Namespace) -> Recipe:
    return Recipe.model_validate(
        {
            "name": "bench-omniglot",
            "seed": args.seed,
            "device": "cpu",
            "data": {"dataset": {"omniglot": DATASET_OPTIONS}},
            "evaluation": {
                "ways": ways, "shots": 1, "queries": QUERIES[ways],
                "val_episodes": args.val_episodes, "test_episodes": args.test_episodes,
            },
            "strategy": {
                "learner": learner,
                "backbone": {"conv4": {"width": args.width}},
                "train_episodes": {"ways": ways, "shots": 1, "queries": TRAIN_QUERIES},
                "meta_batch_size": args.meta_batch,
                "outer_lr": 1e-3,
            },
            "training": {"meta_steps": steps, "eval_every": steps, "checkpoint_every": steps},
        }
    )


def run_one(label: str, ways: int, args: argparse.Namespace, data) -> dict:
    learner, budgets = LEARNERS[label]
    steps = max(1, round(budgets[ways] * args.scale))
    recipe = make_recipe(learner, ways, steps, args)
    started = time.perf_counter()
    result = train(recipe, recipe.fixed_strategy(), data, default_host().registry)
    trained = time.perf_counter() - started
    episodes = split_episodes(recipe, data, "test")
    test = evaluate_learner(result.learner, episodes, result.device)
    return {
        "learner": label,
        "ways": ways,
        "meta_steps": steps,
        "meta_batch": args.meta_batch,
        "width": args.width,
        "train_queries": TRAIN_QUERIES,
        "test_queries": QUERIES[ways],
        "test_mean": test.mean,
        "test_ci95": test.ci95,
        "test_episodes": test.n,
        "tasks_per_second": result.tasks_per_second,
        "train_seconds": trained,
        "total_seconds": time.perf_counter() - started,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| learner | setting | meta-steps x tasks | test accuracy (95% CI) | meta-train tasks/s "
        "| paper (full Omniglot) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['learner']} | {row['ways']}-way 1-shot | {row['meta_steps']} x {row['meta_batch']} "
            f"| {100 * row['test_mean']:.1f} +- {100 * row['test_ci95']:.1f} "
            f"| {row['tasks_per_second']:.1f} | {PAPERS.get((row['learner'], row['ways']), '-')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every step budget")
    parser.add_argument("--meta-batch", type=int, default=4)
    parser.add_argument("--width", type=int, default=32, help="Conv4 channels (the papers used 64)")
    parser.add_argument("--test-episodes", type=int, default=100)
    parser.add_argument("--val-episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ways", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=list(LEARNERS))
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    data = load_data(make_recipe(LEARNERS["ProtoNet"][0], 5, 1, args).data, default_host().registry)
    print({name: data.split(name).num_classes for name in ("train", "val", "test")}, "classes", flush=True)
    rows = []
    for ways in args.ways:
        for label in args.learners:
            row = run_one(label, ways, args, data)
            print(json.dumps(row), flush=True)
            rows.append(row)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()

"""The levers of issue 17 side by side on 20-way 1-shot within-alphabet Omniglot (same test episodes).

Each configuration is one fixed strategy of ``recipes/omniglot-20way.yaml``'s data and
evaluation (meta-train small1 with rotated classes in meta-train only, meta-val
katakana, meta-test Sanskrit + Tagalog, 20-way 1-shot 5-query episodes drawn within
one alphabet), trained with the same step budget by the trainer ``autometa train``
uses, scored on the same fixed test episodes (error % with its 95% CI), and exported
to ``.pt2`` and ONNX, each verified (``export_and_verify``: logits in this process and
in a fresh one). "train CPU s" is the training process's CPU time, the final
validation included. Configurations:

* ``protonet``: episodic ProtoNet as today (20-way training episodes).
* ``baseline++``: whole-class pretraining with a cosine classifier for every step,
  deployed as cosine prototypes (``finetune`` with 0 steps).
* ``rfs``: pretraining with a linear classifier, deployed as logistic regression
  fitted on the support set (``finetune``, linear, 25 steps).
* ``rotation``: baseline++ with the rotation loss (weight 0.5).
* ``pmf``: baseline++ for 70% of the steps, then ProtoNet episodes (P>M>F).
* ``affine``, ``affine+elastic``: baseline++ with those augmentations.
* ``56px``: baseline++ at 56 px (data decoded at 56).
* ``finetune``: baseline++ deployed with a cosine classifier fitted on the support
  set and 4 augmented copies of it (25 steps).
* ``refit``: baseline++ trained on meta-train + meta-val.

    nice python benchmarks/bench_levers.py                       # the full table (estimated 1-2 CPU-hours)
    nice python benchmarks/bench_levers.py --steps 20 --test-episodes 20 --only protonet pmf   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import yaml
from shared_data import OMNIGLOT_ROOT

from autometa.data import load_data
from autometa.data.loading import at_size
from autometa.deploy import export_and_verify
from autometa.learning import evaluate_learner, split_episodes, train
from autometa.plugins import default_host
from autometa.recipe import Recipe
from autometa.search.refit import with_val_in_train

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "omniglot-20way.yaml"
BASELINE_PP = {"classifier": "cosine"}
COSINE_PROTOTYPES = {"finetune": {"classifier": "cosine", "steps": 0}}


def configurations(steps: int) -> dict[str, dict]:
    """name -> {strategy overrides, optional image_size of the data, refit}."""
    pretrain_all = {"steps": steps, **BASELINE_PP}
    return {
        "protonet": {"strategy": {"learner": "protonet"}},
        "baseline++": {"strategy": {"learner": COSINE_PROTOTYPES, "pretrain": pretrain_all}},
        "rfs": {"strategy": {"learner": {"finetune": {"classifier": "linear", "steps": 25}},
                             "pretrain": {"steps": steps, "classifier": "linear"}}},
        "rotation": {"strategy": {"learner": COSINE_PROTOTYPES, "pretrain": {**pretrain_all, "rotation_weight": 0.5}}},
        "pmf": {"strategy": {"learner": "protonet", "pretrain": {**pretrain_all, "steps": int(0.7 * steps)}}},
        "affine": {"strategy": {"learner": COSINE_PROTOTYPES, "pretrain": pretrain_all, "augment": ["affine"]}},
        "affine+elastic": {"strategy": {"learner": COSINE_PROTOTYPES, "pretrain": pretrain_all,
                                        "augment": ["affine", "elastic"]}},
        "56px": {"strategy": {"learner": COSINE_PROTOTYPES, "pretrain": pretrain_all}, "image_size": 56},
        "finetune": {"strategy": {"learner": {"finetune": {"classifier": "cosine", "steps": 25, "views": 4}},
                                  "pretrain": pretrain_all}},
        "refit": {"strategy": {"learner": COSINE_PROTOTYPES, "pretrain": pretrain_all}, "refit": True},
    }


def recipe_for(config: dict, args: argparse.Namespace) -> Recipe:
    """The recipe's data and evaluation, a fixed strategy, ``args.steps`` steps."""
    data = yaml.safe_load(RECIPE.read_text())
    data["data"]["dataset"]["omniglot"]["root"] = str(args.root)
    data["data"]["dataset"]["omniglot"]["image_size"] = config.get("image_size", 28)
    data["evaluation"]["test_episodes"] = args.test_episodes
    data["strategy"] = {
        "backbone": {"conv4": {"width": 64, "depth": 3}},
        "pretrain": {"batch_size": 64, "optimizer": "adam", "lr": 0.001, "weight_decay": 0.0},
        "train_episodes": {"ways": 20, "shots": 1, "queries": 5},
        "meta_batch_size": 1, "outer_lr": 0.001, "lr_schedule": "cosine",
    }
    for key, value in config["strategy"].items():
        data["strategy"][key] = {**data["strategy"].get(key, {}), **value} if key == "pretrain" else value
    data["training"] = {"meta_steps": args.steps, "eval_every": args.steps, "checkpoint_every": args.steps}
    return Recipe.model_validate(data)


def run_one(name: str, config: dict, args: argparse.Namespace, out: Path) -> dict:
    registry = default_host().registry
    recipe = recipe_for(config, args)
    strategy = recipe.fixed_strategy()
    data = load_data(recipe.data, registry)
    started = time.process_time()
    result = train(recipe, strategy, with_val_in_train(data) if config.get("refit") else data, registry)
    train_cpu = time.process_time() - started
    test_episodes = split_episodes(recipe, at_size(data, strategy.image_size), "test")
    test = evaluate_learner(result.learner, test_episodes)
    predictor = result.learner.deployable_predictor().eval()
    exporters = [registry.create("exporter", fmt) for fmt in ("torch_export", "onnx")]
    reports = export_and_verify(predictor, exporters, out / name, list(test_episodes[:3]))
    exports = {report.format: report.max_abs_diff for report in reports}
    return {
        "config": name, "steps": result.steps, "train_cpu_s": round(train_cpu, 1),
        "test_error": round(100 * (1 - test.mean), 2), "ci95": round(100 * test.ci95, 2), "episodes": test.n,
        "val_accuracy": round(100 * result.val.mean, 2), "exports_max_abs_diff": exports,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=OMNIGLOT_ROOT, help="folder with the Omniglot small-set zips")
    parser.add_argument("--steps", type=int, default=800, help="training steps of every configuration")
    parser.add_argument("--test-episodes", type=int, default=600)
    parser.add_argument("--only", nargs="*", help="run only these configurations")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--json", type=Path, help="append one JSON line per configuration here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    chosen = {k: v for k, v in configurations(args.steps).items() if not args.only or k in args.only}
    print("| configuration | test error % (95% CI) | episodes | val acc % | train CPU s | .pt2 / ONNX max |diff| |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, config in chosen.items():
            row = run_one(name, config, args, Path(folder))
            diffs = row["exports_max_abs_diff"]
            print(f"| {name} | {row['test_error']:.2f} +- {row['ci95']:.2f} | {row['episodes']} | "
                  f"{row['val_accuracy']:.2f} | {row['train_cpu_s']:.0f} | "
                  f"{diffs['torch_export']:.1e} / {diffs['onnx']:.1e} |", flush=True)
            if args.json:
                with args.json.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

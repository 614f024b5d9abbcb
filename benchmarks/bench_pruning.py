"""Compute saved by pruning: the same search with and without Optuna's pruners.

Runs one recipe's search (same space, seed, sampler and trial count) twice:
``pruner: none, wilcoxon: false`` and the pruning the recipe asks for (or
``--pruner``). Reports wall time, meta-steps trained, trials pruned, and the best
trial's validation and test accuracy for each, side by side, so the ratio of
compute and the change in the best score are read from one run of this script.

    nice python benchmarks/bench_pruning.py recipes/quickstart.yaml --trials 10
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from autometa.plugins import default_host
from autometa.recipe import load_recipe
from autometa.search import pruning_savings, run_search


def run_variant(recipe_path: Path, workdir: Path, name: str, search_overrides: dict, training_overrides: dict) -> dict:
    recipe = load_recipe(recipe_path, default_host().registry)
    data = recipe.model_dump(mode="json")
    data["name"] = name
    data["output_dir"] = str(workdir)
    data["search"].update(search_overrides)
    data["training"].update(training_overrides)
    data["strategy"] = yaml.safe_load(Path(recipe_path).read_text())["strategy"]  # keep the search nodes
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    started = time.perf_counter()
    summary = run_search(path, default_host(), quiet=True)
    seconds = time.perf_counter() - started
    trained, full = pruning_savings(summary.trials, data["training"]["meta_steps"])
    best = {t.number: t for t in summary.trials}[summary.best[0]]
    test = summary.test.get(best.number, {})
    return {
        "variant": name,
        "pruner": data["search"]["pruner"],
        "wilcoxon": data["search"]["wilcoxon"],
        "seconds": round(seconds, 1),
        "meta_steps_trained": trained,
        "meta_steps_without_pruning": full,
        "pruned": summary.counts()["pruned"],
        "best_trial": best.number,
        "best_val": round(best.values[0], 4),
        "best_test": round(test.get("mean", float("nan")), 4),
        "best_test_ci95": round(test.get("ci95", float("nan")), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--trials", type=int, default=None, help="trials per search (default: the recipe's)")
    parser.add_argument("--pruner", choices=["hyperband", "median"], default=None)
    parser.add_argument("--meta-steps", type=int, default=None, help="per-trial budget (default: the recipe's)")
    parser.add_argument("--eval-every", type=int, default=None, help="validation interval (default: the recipe's)")
    args = parser.parse_args()
    recipe = load_recipe(args.recipe, default_host().registry)
    trials = args.trials or recipe.search.trials
    pruned = {"trials": trials, "pruner": args.pruner or recipe.search.pruner, "wilcoxon": True}
    training = {"meta_steps": args.meta_steps or recipe.training.meta_steps,
                "eval_every": args.eval_every or recipe.training.eval_every}
    training["checkpoint_every"] = training["eval_every"]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            run_variant(args.recipe, Path(tmp), "no-pruning", {"trials": trials, "pruner": "none", "wilcoxon": False}, training),
            run_variant(args.recipe, Path(tmp), "pruning", pruned, training),
        ]
    for row in rows:
        print(json.dumps(row))
    base, fast = rows
    print(
        f"pruning trained {fast['meta_steps_trained']}/{base['meta_steps_trained']} meta-steps "
        f"({fast['meta_steps_trained'] / base['meta_steps_trained']:.2f}x), wall time "
        f"{fast['seconds'] / base['seconds']:.2f}x; best val {base['best_val']:.4f} -> {fast['best_val']:.4f}, "
        f"best test {base['best_test']:.4f} -> {fast['best_test']:.4f}"
    )


if __name__ == "__main__":
    main()

"""Warm-started searches vs cold ones on related tasks: trials and CPU time to the cold search's best, test accuracy.

Two pairs of related tasks, both ending on the same target, so one cold search
per seed serves both:

* ``omniglot``: Omniglot ``images_background_small1`` (Korean, Balinese,
  Early Aramaic to train; Greek to validate; Latin to test) -> the
  ``images_background_small2`` alphabets small1 lacks (Japanese katakana to
  train, Tagalog to validate, Sanskrit to test); small2's Greek and Latin are
  copies of small1's and are left out.
* ``glyphs``: the ``glyphs`` characters rendered from matplotlib's fonts -> the
  same Omniglot small2 target.

Every task is 28x28 grayscale with 90/180/270-degree rotations as extra
Omniglot classes, scored 5-way 1-shot. For each seed: a cold search on the
target; for each pair, a search on the source recorded into a store of its own,
then a search on the target with ``warm_start: auto`` from that store. All
searches share the recipe below (same space, budget, pruning); the target
searches share the seed, the source searches use seed + 100 (omniglot) and
seed + 200 (glyphs): with one seed, every search would try the same random
first trials whatever its data. One process at a time, one thread. Reported per search: the best validation accuracy after
each trial; the number of trials (and the CPU seconds of the process, from the
search's start, data loading, meta-features and warm start included) the warm
search needs to reach the cold search's final best validation score; the test
accuracy (95% CI over the fixed test episodes) of the cold winner, of the warm
winner among its first third of trials, and of the warm winner overall, with
the paired difference on the same test episodes. The source searches' cost is
not counted (the experience already exists when the warm search starts).

    nice python benchmarks/bench_warm_start.py --out /tmp/warm-start                   # the recorded run
    nice python benchmarks/bench_warm_start.py --out /tmp/ws-smoke --trials 3 --meta-steps 10 --seeds 0  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from shared_data import OMNIGLOT_ROOT

from autometa import hookimpl
from autometa.plugins import default_host
from autometa.recipe import load_recipe
from autometa.search import run_search, test_scores
from autometa.search.run_directory import RunDirectory, read_json

SMALL1, SMALL2 = "images_background_small1", "images_background_small2"


def tasks(omniglot: Path) -> dict[str, Any]:
    """Task name -> the recipe's data set."""
    return {
        "omniglot-small1": {"omniglot": {
            "root": str(omniglot), "rotations": True,
            "train": [f"{SMALL1}/Korean", f"{SMALL1}/Balinese", f"{SMALL1}/Early_Aramaic"],
            "val": [f"{SMALL1}/Greek"], "test": [f"{SMALL1}/Latin"],
        }},
        "omniglot-small2": {"omniglot": {
            "root": str(omniglot), "rotations": True,
            "train": [f"{SMALL2}/Japanese_(katakana)"], "val": [f"{SMALL2}/Tagalog"], "test": [f"{SMALL2}/Sanskrit"],
        }},
        "glyphs": "glyphs",
    }


TARGET = "omniglot-small2"
#: Source searches are seeded apart from the target's and from each other's (the same seed, the same
#: space and the same sampler propose the same first, random trials, whatever the data).
SOURCE_SEEDS = {"omniglot": 100, "glyphs": 200}
PAIRS = {"omniglot": "omniglot-small1", "glyphs": "glyphs"}

STRATEGY = {
    "learner": {"choice": {
        "protonet": {},
        "anil": {"inner_steps": {"int": [1, 3]}, "inner_lr": {"log_uniform": [0.01, 1.0]}},
    }},
    "backbone": {"conv4": {"width": {"choice": [16, 32]}}},
    "train_episodes": {"ways": {"choice": [5, 10]}, "shots": 1, "queries": 5},
    "meta_batch_size": 4,
    "outer_lr": {"log_uniform": [0.0001, 0.03]},
}


class CpuClock:
    """An observer plugin: the process's CPU seconds at the start of the search and at each trial's end."""

    def __init__(self) -> None:
        self.started = 0.0
        self.finished: dict[int, float] = {}

    @hookimpl
    def search_started(self, study, recipe, run_dir) -> None:
        self.started, self.finished = time.process_time(), {}

    @hookimpl
    def trial_finished(self, trial, state, values, reason) -> None:
        self.finished[trial.number] = time.process_time() - self.started


def write_recipe(workdir: Path, name: str, task: str, seed: int, args: argparse.Namespace, **search: Any) -> Path:
    recipe = {
        "name": name, "seed": seed, "output_dir": str(workdir / "runs"), "device": "cpu",
        "data": {"dataset": tasks(args.omniglot)[task]},
        "evaluation": {"ways": 5, "shots": 1, "queries": 5, "val_episodes": args.val_episodes,
                       "test_episodes": args.test_episodes},
        "strategy": STRATEGY,
        "training": {"meta_steps": args.meta_steps, "eval_every": args.meta_steps // 3,
                     "checkpoint_every": args.meta_steps},
        "search": {"trials": args.trials, "sampler": "tpe", "startup_trials": 4, "pruner": "median", **search},
    }
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def search(path: Path, clock: CpuClock) -> dict[str, Any]:
    """Run one search; its per-trial validation scores, CPU seconds, transferred trials and winner."""
    summary = run_search(path, default_host(), quiet=True)
    by_number = sorted(summary.trials, key=lambda t: t.number)
    return {
        "run_dir": str(summary.run_dir),
        "values": [t.values[0] if t.state == "complete" and t.values else None for t in by_number],
        "cpu_s": [round(clock.finished.get(t.number, math.nan), 1) for t in by_number],
        "transferred": [t.number for t in by_number if t.transferred_from],
        "sources": [s["name"] for s in summary.warm_start.get("sources", [])],
        "best": summary.best[0] if summary.best else None,
    }


def best_so_far(values: list[float | None]) -> list[float]:
    best, out = -math.inf, []
    for value in values:
        best = max(best, value if value is not None else -math.inf)
        out.append(best)
    return out


def winner(result: dict[str, Any], within: int) -> int | None:
    """The trial with the best validation score among the first ``within`` trials."""
    scored = [(v, n) for n, v in enumerate(result["values"][:within]) if v is not None]
    return max(scored, key=lambda x: (x[0], -x[1]))[1] if scored else None


def test_of(path: Path, result: dict[str, Any], number: int) -> dict[str, Any]:
    """Test accuracy of a trial from its checkpoint (scored once, kept in its metrics.json)."""
    registry = default_host().registry
    recipe = load_recipe(path, registry)
    run = RunDirectory(Path(result["run_dir"]))
    score = test_scores(recipe, run, [number], None, registry)[number]
    episodes = read_json(run.trials_dir / str(number) / "metrics.json")["test"]["per_episode"]
    return {"trial": number, "mean": round(score["mean"], 4), "ci95": round(score["ci95"], 4), "episodes": episodes}


def paired(a: list[float], b: list[float]) -> dict[str, float]:
    """Mean and 95% CI of ``a - b`` over the same episodes."""
    diffs = [x - y for x, y in zip(a, b)]
    mean = sum(diffs) / len(diffs)
    std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / len(diffs))
    return {"mean": round(mean, 4), "ci95": round(1.96 * std / math.sqrt(len(diffs)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="work folder: run directories, stores, results.json")
    parser.add_argument("--trials", type=int, default=12, help="trials per search")
    parser.add_argument("--meta-steps", type=int, default=60, help="meta-steps per trial")
    parser.add_argument("--val-episodes", type=int, default=30)
    parser.add_argument("--test-episodes", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pairs", nargs="+", choices=sorted(PAIRS), default=sorted(PAIRS))
    parser.add_argument("--omniglot", type=Path, default=OMNIGLOT_ROOT, help="folder of the Omniglot small set zips")
    args = parser.parse_args()
    torch.set_num_threads(1)
    clock = CpuClock()
    default_host().register(clock, "cpu-clock")
    args.out.mkdir(parents=True, exist_ok=True)
    third = max(1, args.trials // 3)
    rows = []
    for seed in args.seeds:
        os.environ["AUTOMETA_EXPERIENCE"] = str(args.out / f"unused-{seed}.db")
        cold_path = write_recipe(args.out, f"cold-{seed}", TARGET, seed, args, record_experience=False)
        cold = search(cold_path, clock)
        cold_best = max(v for v in cold["values"] if v is not None)
        cold_test = test_of(cold_path, cold, winner(cold, args.trials))
        for pair in args.pairs:
            os.environ["AUTOMETA_EXPERIENCE"] = str(args.out / f"store-{pair}-{seed}.db")
            source_seed = SOURCE_SEEDS[pair] + seed  # else the sources replay the cold search's random trials
            search(write_recipe(args.out, f"source-{pair}-{seed}", PAIRS[pair], source_seed, args), clock)
            warm_path = write_recipe(args.out, f"warm-{pair}-{seed}", TARGET, seed, args,
                                     warm_start="auto", record_experience=False)
            warm = search(warm_path, clock)
            curve = best_so_far(warm["values"])
            reached = next((n + 1 for n, best in enumerate(curve) if best >= cold_best), None)
            early, late = (test_of(warm_path, warm, winner(warm, k)) for k in (third, args.trials))
            row = {
                "pair": pair, "seed": seed, "cold_trials": args.trials, "cold_best_val": round(cold_best, 4),
                "cold_cpu_s": cold["cpu_s"][-1], "warm_sources": warm["sources"], "warm_transferred": warm["transferred"],
                "warm_trials_to_reach": reached,
                "warm_cpu_s_to_reach": warm["cpu_s"][reached - 1] if reached else None,
                "warm_cpu_s": warm["cpu_s"][-1],
                "cold_val_curve": [round(v, 4) for v in best_so_far(cold["values"])],
                "warm_val_curve": [round(v, 4) for v in curve],
                "cold_test": {k: v for k, v in cold_test.items() if k != "episodes"},
                f"warm_test_first_{third}": {k: v for k, v in early.items() if k != "episodes"},
                "warm_test": {k: v for k, v in late.items() if k != "episodes"},
                f"paired_test_diff_first_{third}": paired(early["episodes"], cold_test["episodes"]),
                "paired_test_diff": paired(late["episodes"], cold_test["episodes"]),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

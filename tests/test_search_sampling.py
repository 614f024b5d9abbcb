"""Each trial draws from its own stream: a resumed search or another worker never repeats a strategy, and
one process with one seed stays reproducible.

Before, every process seeded its sampler with the recipe's seed, so a resumed
search re-proposed the trials it had already run (a 4-trial study tried 2 strategies).
"""

from __future__ import annotations

import optuna
from test_search import load_study, toy_plugin, write_recipe  # noqa: F401 (the autouse fixture loads the toy plugin)

from autometa.plugins import default_host
from autometa.recipe import SearchSection
from autometa.search import TrialSeededSampler, make_sampler, run_search, trial_seed


def lrs(run_dir) -> list[float]:
    return [t.params["outer_lr"] for t in load_study(run_dir).trials]


def test_a_resumed_search_draws_new_strategies(tmp_path):
    run_search(write_recipe(tmp_path, search={"trials": 3}), default_host(), quiet=True)
    run_search(write_recipe(tmp_path, search={"trials": 6}), default_host(), quiet=True)  # resume and extend
    drawn = lrs(tmp_path / "runs" / "toy")
    assert len(drawn) == 6 and len(set(drawn)) == 6


def test_one_process_with_one_seed_is_reproducible(tmp_path):
    runs = []
    for name in ("first", "second"):
        run_search(write_recipe(tmp_path, name=name, search={"trials": 3, "sampler": "tpe", "startup_trials": 1}),
                   default_host(), quiet=True)
        runs.append(lrs(tmp_path / "runs" / name))
    assert runs[0] == runs[1] and len(set(runs[0])) == 3


def test_trial_seeds_are_stable_and_distinct():
    assert trial_seed(0, 0) == trial_seed(0, 0) == 2968811710  # the same in every process and Python run
    seeds = {trial_seed(seed, number) for seed in range(3) for number in range(1000)}
    assert len(seeds) == 3000 and all(0 <= s < 2**32 for s in seeds)


def test_processes_sharing_a_study_draw_different_strategies():
    """Two samplers with the same seed on one study, as two workers: each trial number gets its own draw."""
    search = SearchSection(sampler="tpe", startup_trials=2)
    study = optuna.create_study(sampler=TrialSeededSampler(lambda s: make_sampler(search, s), 0))
    other = optuna.load_study(study_name=study.study_name, storage=study._storage,
                              sampler=TrialSeededSampler(lambda s: make_sampler(search, s), 0))
    for worker in (study, other) * 4:
        trial = worker.ask()
        worker.tell(trial, trial.suggest_float("x", 0, 1) ** 2)
    drawn = [t.params["x"] for t in study.trials]
    assert len(set(drawn)) == 8

"""Warm-started searches end to end: recording, transfer, re-scoring, cold-start equivalence, the report, the CLI.

The searches run the toy components of ``test_search.py`` (8x8 noise, a linear
backbone, a nearest-prototype learner), each trial a fraction of a second.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from test_search import load_study, toy_plugin, write_recipe  # noqa: F401  (toy_plugin: an autouse fixture)

from autometa.errors import AutometaError, ExperienceError
from autometa.experience import ExperienceStore, SearchRecord, TrialRecord
from autometa.plugins import default_host
from autometa.search import run_search

TOY_SPACE = {
    "learner": "search_toy",
    "backbone": {"flat_linear": {"features": {"choice": [4, 8]}}},
    "train_episodes": {"ways": 3, "shots": 1, "queries": 2},
    "meta_batch_size": 2,
    "outer_lr": {"log_uniform": [0.001, 0.1]},
}


@pytest.fixture
def store(tmp_path, monkeypatch) -> ExperienceStore:
    """A fresh, empty store for this test alone."""
    path = tmp_path / "experience.db"
    monkeypatch.setenv("AUTOMETA_EXPERIENCE", str(path))
    return ExperienceStore(str(path))


def recipe_in(folder, **options) -> str:
    """``write_recipe`` in a folder of its own (its run directory is ``folder/runs/<name>``)."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_recipe(folder, **options)


def fabricated(name: str, value: float, params: dict) -> SearchRecord:
    """An earlier search whose one trial claims ``value``: a warm start must not believe it."""
    return SearchRecord(
        key=f"/nowhere/{name}", name=name, dataset="noise_blobs", objectives=["accuracy"],
        evaluation={"ways": 3, "shots": 1, "queries": 2}, space=TOY_SPACE, meta_features={},
        fingerprint="0" * 16, trials=[TrialRecord(0, "complete", [value], params)],
    )


def test_a_finished_search_records_itself_and_a_resume_updates_the_record(tmp_path, store):
    run_search(write_recipe(tmp_path, search={"trials": 2}), default_host(), quiet=True)
    (search,) = store.searches()
    assert search.name == "toy" and search.key == str((tmp_path / "runs" / "toy").resolve())
    assert [t.state for t in search.trials] == ["complete", "complete"] and search.trials[0].steps == 4
    assert search.trials[0].params == load_study(tmp_path / "runs" / "toy").trials[0].params
    assert search.meta_features["classes"] == 16 and search.evaluation == {"ways": 3, "shots": 1, "queries": 2}
    assert search.space["outer_lr"] == {"log_uniform": [0.001, 0.1]}

    run_search(write_recipe(tmp_path, search={"trials": 3}), default_host(), quiet=True)
    (search,) = store.searches()
    assert len(search.trials) == 3

    off = write_recipe(tmp_path, name="private", search={"trials": 1, "record_experience": False})
    run_search(off, default_host(), quiet=True)
    assert [s.name for s in store.searches()] == ["toy"]


def test_transferred_trials_are_trained_and_scored_on_this_studys_episodes(tmp_path, store):
    params = {"backbone.flat_linear.features": 8, "outer_lr": 0.02}
    values = []
    for claimed, folder in ((0.999, "high"), (0.001, "low")):
        store.record(fabricated(f"claims-{folder}", claimed, params))
        search = {"trials": 2, "warm_start": [f"claims-{folder}"], "warm_start_trials": 1}
        summary = run_search(recipe_in(tmp_path / folder, search=search), default_host(), quiet=True)
        first = summary.trials[0]
        assert first.params == params and first.transferred_from["search"] == f"claims-{folder}"
        assert first.transferred_from["value"] == claimed and first.values[0] != claimed
        metrics = json.loads((tmp_path / folder / "runs" / "toy" / "trials" / "0" / "metrics.json").read_text())
        assert metrics["steps"] == 4 and metrics["val"]["n"] == 6 and metrics["val"]["mean"] == first.values[0]
        assert summary.trials[1].transferred_from is None
        values.append(first.values[0])
        report = (tmp_path / folder / "runs" / "toy" / "report.md").read_text()
        assert "## Warm start" in report and f"0 (from `claims-{folder}` #0)" in report
        assert "re-trained and scored on this study's own validation episodes" in report
    assert values[0] == values[1]  # the same strategy, the same episodes: the claimed score played no part


def test_warm_start_auto_with_an_empty_store_is_a_cold_start(tmp_path, store):
    def trials(folder: str, search: dict) -> list[tuple]:
        search = {"trials": 3, "sampler": "tpe", "startup_trials": 1, "record_experience": False, **search}
        summary = run_search(recipe_in(tmp_path / folder, search=search), default_host(), quiet=True)
        return [(t.number, t.params, t.values, t.transferred_from) for t in summary.trials]

    assert trials("auto", {"warm_start": "auto"}) == trials("cold", {})
    report = (tmp_path / "auto" / "runs" / "toy" / "report.md").read_text()
    assert "`auto` found no earlier search in the experience store: a cold start." in report
    assert "## Warm start" not in (tmp_path / "cold" / "runs" / "toy" / "report.md").read_text()


def test_auto_warm_start_transfers_the_best_of_the_nearest_search_and_a_run_directory_is_read_in_place(tmp_path, store):
    source = recipe_in(tmp_path / "first", search={"trials": 4, "record_experience": False})
    earlier = run_search(source, default_host(), quiet=True)
    best = {t.number: t for t in earlier.trials}[earlier.best[0]]
    assert store.searches() == []  # not recorded: the run directory is read in place
    by_directory = {"trials": 2, "warm_start": [str(tmp_path / "first" / "runs" / "toy")], "warm_start_trials": 1}
    summary = run_search(recipe_in(tmp_path / "second", search=by_directory), default_host(), quiet=True)
    assert summary.trials[0].params == best.params and summary.trials[0].transferred_from["trial"] == best.number
    assert summary.warm_start["sources"][0]["distance"] is None  # the earlier study kept no meta-features

    summary = run_search(recipe_in(tmp_path / "third", search={"trials": 2, "warm_start": "auto"}),
                         default_host(), quiet=True)
    (source_info,) = summary.warm_start["sources"]
    assert source_info["name"] == "toy" and source_info["run_dir"] == str((tmp_path / "second" / "runs" / "toy").resolve())
    assert source_info["distance"] == 0  # same data, same shape
    assert summary.trials[0].transferred_from["search"] == "toy"
    recorded = {s.key: s for s in store.searches()}[str((tmp_path / "third" / "runs" / "toy").resolve())]
    assert recorded.warm_start["sources"] == summary.warm_start["sources"]
    assert recorded.trials[0].transferred_from == summary.trials[0].transferred_from


def test_a_tpe_search_gets_the_sampler_prior_and_a_resume_keeps_it_without_queueing_again(tmp_path, store):
    store.record(SearchRecord(
        key="/nowhere/src", name="src", dataset="noise_blobs", objectives=["accuracy"],
        evaluation={"ways": 3, "shots": 1, "queries": 2}, space=TOY_SPACE, meta_features={}, fingerprint="0" * 16,
        trials=[TrialRecord(n, "complete", [0.5 + n / 100], {"backbone.flat_linear.features": 8, "outer_lr": 0.01 + n / 1000})
                for n in range(6)],
    ))
    search = {"trials": 2, "sampler": "tpe", "startup_trials": 4, "warm_start": ["src"], "warm_start_trials": 1}
    summary = run_search(recipe_in(tmp_path / "a", search=search), default_host(), quiet=True)
    assert summary.warm_start["observations"] == 6 and summary.trials[0].transferred_from["trial"] == 5
    report = (tmp_path / "a" / "runs" / "toy" / "report.md").read_text()
    assert "The sampler proposed the first trials from 6 observations" in report

    from autometa.data.loading import load_recipe_data
    from autometa.experience import PriorSampler
    from autometa.recipe.loading import load_recipe
    from autometa.search.experience import warm_start

    recipe = load_recipe(recipe_in(tmp_path / "a", search={**search, "trials": 3}), default_host().registry)
    study = load_study(tmp_path / "a" / "runs" / "toy")
    notes = []
    warm_start(study, recipe, load_recipe_data(recipe, default_host().registry), notes.append)
    prior = study.sampler.current  # a fresh PriorSampler per trial, each seeded from the trial's number
    assert isinstance(prior, PriorSampler) and len(prior.observations) == 6
    study.sampler.before_trial(study, study.trials[0])
    assert study.sampler.current is not prior and isinstance(study.sampler.current, PriorSampler)
    assert len(study.trials) == 2  # nothing queued again
    assert notes == ["warm start: 1 strategy from src queued first (re-trained and scored here); report.md lists them"]


def test_an_unknown_warm_start_source_is_one_line_before_any_trial(tmp_path, store):
    path = write_recipe(tmp_path, search={"warm_start": ["no-such-search"]})
    with pytest.raises(ExperienceError, match=r"^search.warm_start: no earlier search named 'no-such-search'") as info:
        run_search(path, default_host(), quiet=True)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    assert load_study(tmp_path / "runs" / "toy").trials == []
    with pytest.raises(AutometaError, match="list run directories or recorded search names"):
        run_search(write_recipe(tmp_path, name="empty", search={"warm_start": []}), default_host(), quiet=True)


# ------------------------------------------------------------------------- the CLI


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autometa.cli", "experience", *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_experience_list_show_and_forget(tmp_path, store, monkeypatch):
    import os

    store.record(fabricated("omni-a", 0.61, {"backbone.flat_linear.features": 8, "outer_lr": 0.02}))
    env = {**os.environ, "COLUMNS": "200"}
    listed = json.loads(cli("list", "--json", env=env).stdout)
    assert listed["store"].endswith("experience.db")
    assert listed["searches"] == [{"name": "omni-a", "run_dir": "/nowhere/omni-a", "dataset": "noise_blobs",
                                   "shape": "3-way 1-shot", "trials": 1, "best_value": 0.61,
                                   "recorded_at": listed["searches"][0]["recorded_at"]}]
    table = cli("list", env=env)
    assert table.returncode == 0 and "omni-a" in table.stdout and "61.00%" in table.stdout
    shown = cli("show", "omni-a", env=env)
    assert shown.returncode == 0 and "outer_lr=0.02" in shown.stdout and "/nowhere/omni-a" in shown.stdout
    assert json.loads(cli("show", "omni-a", "--json", env=env).stdout)["trials"][0]["values"] == [0.61]

    unknown = cli("forget", "omni-b", env=env)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "Traceback" not in unknown.stderr
    assert "no earlier search named 'omni-b'" in unknown.stderr
    forgot = cli("forget", "omni-a", env=env)
    assert forgot.returncode == 0 and "forgot omni-a" in forgot.stdout
    assert store.searches() == []
    assert yaml.safe_load(cli("list", "--json", env=env).stdout)["searches"] == []

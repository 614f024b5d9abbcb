"""``search.timeout_minutes`` is a budget for the whole search: a trial still training then stops too."""

from __future__ import annotations

import json

import yaml

from autometa.authoring import testing
from autometa.plugins import default_host
from autometa.search import run_search


def test_a_trial_running_at_the_timeout_is_cut_off_and_no_new_trial_starts(tmp_path):
    recipe = testing.tiny_recipe(trials=3)
    recipe["training"] = {"meta_steps": 100000, "eval_every": 100000, "checkpoint_every": 100000}
    recipe["search"]["timeout_minutes"] = 0.02  # 1.2 s; the trial alone would take many minutes
    recipe["output_dir"] = str(tmp_path / "runs")
    recipe["data"]["cache_dir"] = str(tmp_path / "cache")
    path = tmp_path / "timeout.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    default_host().register(testing, testing.TESTING_PLUGIN, "autometa (testing)")
    try:
        summary = run_search(path, default_host(), storage=None, workers=1, quiet=True, as_json=False)
    finally:
        default_host().unregister(testing.TESTING_PLUGIN)
    (trial,) = summary.trials
    assert trial.state == "pruned"
    assert trial.reason.startswith("cut off by search.timeout_minutes at step ") and trial.reason.endswith(" of 100000")
    metrics = json.loads((tmp_path / "runs" / "tiny" / "trials" / "0" / "metrics.json").read_text())
    assert metrics["duration_s"] < 60
    assert (tmp_path / "runs" / "tiny" / "trials" / "0" / "checkpoint.pt").is_file()

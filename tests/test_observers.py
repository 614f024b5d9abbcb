"""Observers a recipe switches on under `search.observers`: built by name with their options, told of
every event, never able to stop a search; and the built-in `mlflow` observer, read back through
MLflow's own client from a real local tracking store."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import needs
from pydantic import Field
from test_search import toy_plugin, write_recipe  # noqa: F401  (toy_plugin: the toy data and learner)

from autometa import Observer, PluginOptions, hookimpl
from autometa.errors import PluginError, RecipeError
from autometa.plugins import default_host
from autometa.search import run_search

EVENTS: list[tuple] = []


class EventLog(Observer):
    """Records every event it sees (in EVENTS)."""

    name = "event_log"

    class Options(PluginOptions):
        tag: str = Field("log", description="written with each event")
        fail: bool = Field(False, description="raise on every finished trial, as a broken tracker would")

    def search_started(self, study, recipe, run_dir):
        EVENTS.append((self.options.tag, "search_started", recipe.name))

    def trial_started(self, trial, strategy):
        EVENTS.append((self.options.tag, "trial_started", trial.number))

    def trial_finished(self, trial, state, values, reason, metrics):
        if self.options.fail:
            raise ConnectionError("tracking server unreachable")
        steps = [point["step"] for point in metrics["history"]["val"]]
        EVENTS.append((self.options.tag, "trial_finished", trial.number, state, steps))

    def search_finished(self, study, run_dir, summary):
        EVENTS.append((self.options.tag, "search_finished", summary.best))


class ObserverPlugin:
    @hookimpl
    def register_observers(self):
        return [EventLog]


@pytest.fixture(autouse=True)
def event_log(toy_plugin):  # noqa: F811  (the toy plugin first, so it is reset last)
    EVENTS.clear()
    default_host().register(ObserverPlugin(), "event-log")
    yield
    default_host().unregister("event-log")


def test_a_recipe_observer_sees_every_event_with_its_options(tmp_path):
    path = write_recipe(tmp_path, search={"observers": [{"event_log": {"tag": "A"}}]})
    summary = run_search(path, default_host(), quiet=True)
    assert EVENTS == [
        ("A", "search_started", "toy"),
        ("A", "trial_started", 0), ("A", "trial_finished", 0, "complete", [2, 4]),
        ("A", "trial_started", 1), ("A", "trial_finished", 1, "complete", [2, 4]),
        ("A", "search_finished", summary.best),
    ]
    assert "recipe observers" not in [source.plugin for source, _ in default_host().plugins()]  # only while searching


def test_a_misspelt_observer_is_refused_before_the_search(tmp_path):
    path = write_recipe(tmp_path, search={"observers": ["event_logg"]})
    with pytest.raises(RecipeError, match="did you mean 'event_log'") as info:
        run_search(path, default_host(), quiet=True)
    assert info.value.exit_code == 2 and not (tmp_path / "runs" / "toy" / "trials").exists()


def test_an_observer_that_raises_is_logged_and_the_search_goes_on(tmp_path, caplog):
    path = write_recipe(tmp_path, search={"observers": [{"event_log": {"fail": True}}, {"event_log": {"tag": "B"}}]})
    with caplog.at_level(logging.WARNING, logger="autometa.search"):
        summary = run_search(path, default_host(), quiet=True)
    assert summary.counts()["complete"] == 2
    assert [e[2] for e in EVENTS if e[:2] == ("B", "trial_finished")] == [0, 1]  # the second observer still ran
    assert "observer 'event_log' raised ConnectionError('tracking server unreachable') in trial_finished" in caplog.text


def test_the_mlflow_observer_needs_its_extra(monkeypatch):
    import importlib.util

    from autometa_plugins.observers import mlflow_tracking

    real = importlib.util.find_spec
    without_mlflow = lambda name: None if name == "mlflow" else real(name)  # noqa: E731
    monkeypatch.setattr(mlflow_tracking.importlib.util, "find_spec", without_mlflow)
    with pytest.raises(PluginError, match=r"pip install 'autometa\[mlflow\]'"):
        default_host().registry.create("observer", "mlflow")


@pytest.mark.slow  # imports MLflow and creates its SQLite tables: a minute on a busy CPU
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")  # MLflow on SQLAlchemy 2.1
def test_the_mlflow_observer_logs_each_trial_as_a_run(tmp_path, monkeypatch):
    import importlib.util

    needs(importlib.util.find_spec("mlflow") is not None, "MLflow is not installed: pip install -e '.[test]'")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # MLflow must not write into the current folder
    path = write_recipe(tmp_path, search={"observers": ["mlflow"]})
    summary = run_search(path, default_host(), quiet=True)
    run_dir = tmp_path / "runs" / "toy"

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}")  # the default store: the run directory's
    experiment = client.get_experiment_by_name("toy")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["trial-0", "trial-1"]
    for trial in summary.trials:
        run = runs[f"trial-{trial.number}"]
        history = json.loads((run_dir / "trials" / str(trial.number) / "metrics.json").read_text())["history"]
        assert run.data.params == {name: str(value) for name, value in trial.params.items()}
        assert run.info.status == "FINISHED" and run.data.tags["autometa.state"] == "complete"
        curve = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "val_accuracy"))
        assert curve == [(p["step"], pytest.approx(p["mean"])) for p in history["val"]]
        assert [step for step, _ in curve] == [2, 4]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2, 3, 4]
        assert run.data.metrics["final_val_accuracy"] == pytest.approx(trial.values[0])
        assert "duration_s" in run.data.metrics
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["metrics.json"]
    best = client.get_run(runs[f"trial-{summary.best[0]}"].info.run_id)
    test = summary.test[summary.best[0]]
    assert best.data.metrics["test_accuracy"] == pytest.approx(test["mean"])
    assert best.data.tags["autometa.best"] == "true"
    assert (run_dir / "mlflow-artifacts").is_dir() and not (tmp_path / "mlruns").exists()

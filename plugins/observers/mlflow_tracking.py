"""``mlflow``: every trial of a search as an MLflow run, for people who already track experiments there.

Switched on in the recipe (``search: {observers: [mlflow]}``) and installed with
``pip install 'autometa[mlflow]'`` (MLflow's client, ``mlflow-skinny``). Each
finished trial becomes one run of the experiment named after the recipe: its
searched parameters, the validation curve (``val_accuracy`` and
``val_accuracy_ci95`` per meta-step), the training curve (``train_loss``, ...),
the final objective values and duration, its state and reason as tags, and its
``metrics.json`` as an artifact. When the search ends, the winner's run gets its
test accuracy and the tag ``autometa.best``. MLflow is imported only when a search
starts, and written to through ``MlflowClient`` (no global active run).
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from autometa import Observer, PluginError, PluginOptions

#: MLflow caps one log_batch call at 1000 metrics.
_BATCH = 1000
_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}


class MlflowOptions(PluginOptions):
    tracking_uri: str | None = Field(
        None, description="where to log: an MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
        "sqlite:///<run directory>/mlflow.db)"
    )
    experiment: str | None = Field(None, description="MLflow experiment name (default: the recipe's name)")


class MlflowTracking(Observer):
    """Logs each trial as an MLflow run: parameters, validation and training curves, final metrics."""

    name = "mlflow"
    Options = MlflowOptions

    def __init__(self, options: MlflowOptions):
        super().__init__(options)
        if importlib.util.find_spec("mlflow") is None:
            raise PluginError("search.observers names 'mlflow', which needs MLflow: pip install 'autometa[mlflow]'")
        self.client: Any = None
        self.experiment_id = ""
        self.run_dir = Path()
        self.objectives: list[str] = []

    def search_started(self, study: Any, recipe: Any, run_dir: Any) -> None:
        from mlflow.tracking import MlflowClient

        self.run_dir = Path(run_dir).resolve()
        self.objectives = list(recipe.search.objectives)
        default = f"sqlite:///{self.run_dir / 'mlflow.db'}"
        uri = self.options.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default
        self.client = MlflowClient(tracking_uri=uri)
        name = self.options.experiment or recipe.name
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            self.experiment_id = experiment.experiment_id
        else:  # beside a local database, artifacts go into the run directory, not ./mlruns of the current folder
            location = (self.run_dir / "mlflow-artifacts").as_uri() if uri == default else None
            self.experiment_id = self.client.create_experiment(name, artifact_location=location)

    def trial_finished(self, trial: Any, state: str, values: Any, reason: str | None, metrics: dict) -> None:
        from mlflow.entities import Metric, Param

        if self.client is None:
            return
        tags = {"autometa.trial": str(trial.number), "autometa.run_dir": str(self.run_dir),
                "autometa.state": state, "autometa.reason": reason or ""}
        started = int(trial.datetime_start.timestamp() * 1000) if trial.datetime_start else None
        name = f"trial-{trial.number}"
        run = self.client.create_run(self.experiment_id, start_time=started, run_name=name, tags=tags)
        now = int(time.time() * 1000)
        history = metrics.get("history") or {}
        logged = []
        for point in history.get("val", []):
            logged += [Metric("val_accuracy", point["mean"], now, point["step"]),
                       Metric("val_accuracy_ci95", point["ci95"], now, point["step"])]
        for row in history.get("train", []):
            logged += [Metric(f"train_{key}", value, now, row["step"]) for key, value in row.items() if key != "step"]
        final = {f"final_val_{name}" if name == "accuracy" else f"final_{name}": v
                 for name, v in zip(self.objectives, values or [])}
        if metrics.get("duration_s") is not None:
            final["duration_s"] = metrics["duration_s"]
        logged += [Metric(key, float(value), now, 0) for key, value in final.items()]
        params = [Param(key, str(value)) for key, value in trial.params.items()]
        for start in range(0, max(len(logged), 1), _BATCH):
            self.client.log_batch(run.info.run_id, metrics=logged[start:start + _BATCH],
                                  params=params if start == 0 else ())
        file = self.run_dir / "trials" / str(trial.number) / "metrics.json"
        if file.is_file():
            self.client.log_artifact(run.info.run_id, str(file))
        self.client.set_terminated(run.info.run_id, status=_STATUS.get(state, "FAILED"))

    def search_finished(self, study: Any, run_dir: Any, summary: Any) -> None:
        from mlflow.entities import Metric, RunTag

        if self.client is None:
            return
        now = int(time.time() * 1000)
        for number, test in summary.test.items():
            query = f"tags.`autometa.trial` = '{number}' and tags.`autometa.run_dir` = '{self.run_dir}'"
            for run in self.client.search_runs([self.experiment_id], filter_string=query):
                if "test_accuracy" in run.data.metrics:
                    continue
                self.client.log_batch(run.info.run_id, metrics=[
                    Metric("test_accuracy", test["mean"], now, 0), Metric("test_accuracy_ci95", test["ci95"], now, 0),
                ], tags=[RunTag("autometa.best", "true")])

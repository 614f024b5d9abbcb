"""`autometa search`: resume, pruning, faults, multi-objective, best/strategy.yaml, report.

The search runs the real trainer on tiny in-test components (8x8 noise images, a
linear backbone, a nearest-prototype learner whose options make it worse, diverge,
raise or sleep), so each trial takes a fraction of a second. This module is also
the plugin that `test_search_processes.py` loads into its subprocesses.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import optuna
import pytest
import torch
import yaml
from doubles import FlatLinear, NoiseBlobs
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from autometa import Observer, hookimpl
from autometa.components import PluginOptions
from autometa.errors import AutometaError
from autometa.learning import MetaLearner, StepOutput
from autometa.plugins import default_host
from autometa.search import STUDY_NAME, count_finished, run_search

# ----------------------------------------------------------------- test doubles


class PrototypePredictor(nn.Module):
    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, support, onehot, query):
        prototypes = onehot.T @ self.backbone(support) / onehot.sum(0)[:, None]
        q = self.backbone(query)
        return -(q.pow(2).sum(-1, keepdim=True) - 2 * q @ prototypes.T + prototypes.pow(2).sum(-1)[None])


class Toy(MetaLearner):
    """Nearest prototype; options make it blind, diverge, raise or slow."""

    name = "search_toy"

    class Options(PluginOptions):
        blind: bool = Field(False, description="replace the logits by noise (a deliberately bad region)")
        diverge: bool = Field(False, description="produce a NaN loss")
        explode: bool = Field(False, description="raise from meta_step, as a buggy plugin would")
        sleep: float = Field(0.0, description="seconds to sleep per meta-step")

    def __init__(self, options, **context):
        super().__init__(options, **context)
        self.predictor = PrototypePredictor(self.backbone)

    def _logits(self, support_x, support_y, query_x, ways):
        logits = self.predictor(support_x, F.one_hot(support_y, ways).float(), query_x)
        if self.options.blind:
            logits = torch.randn_like(logits) + 0 * logits
        return logits

    def meta_step(self, batch) -> StepOutput:
        if self.options.explode:
            raise RuntimeError("toy plugin bug")
        time.sleep(self.options.sleep)
        losses, accuracies = [], []
        for i in range(len(batch)):
            ep = batch.episode(i)
            logits = self._logits(ep.support_x, ep.support_y, ep.query_x, ep.ways)
            losses.append(F.cross_entropy(logits, ep.query_y))
            accuracies.append((logits.argmax(-1) == ep.query_y).float().mean())
        loss = torch.stack(losses).mean() * (float("nan") if self.options.diverge else 1.0)
        loss.backward()
        return StepOutput(loss=loss.item(), accuracy=torch.stack(accuracies).mean().item())

    def predict(self, episode):
        with torch.no_grad():
            return self._logits(episode.support_x, episode.support_y, episode.query_x, episode.ways)

    def export_predictor(self):
        return PrototypePredictor(self.backbone)


class TrialFile(Observer):
    """Appends "<process id> <event> <trial>" lines to the run directory's observed.txt."""

    name = "trial_file"

    def search_started(self, study, recipe, run_dir):
        self.path = Path(run_dir) / "observed.txt"
        self._line("search_started", "-")

    def trial_finished(self, trial, state, values, reason, metrics):
        self._line("trial_finished", trial.number)

    def _line(self, event, trial):
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {event} {trial}\n")


@hookimpl
def register_observers():
    return [TrialFile]


@hookimpl
def register_datasets():
    return [NoiseBlobs]


@hookimpl
def register_backbones():
    return [FlatLinear]


@hookimpl
def register_learners():
    return [Toy]


PLUGIN = "test_search"


@pytest.fixture(autouse=True)
def toy_plugin():
    default_host().load_module(PLUGIN)
    yield
    default_host().reset()


def write_recipe(tmp_path, *, strategy=None, search=None, training=None, name="toy") -> str:
    recipe = {
        "name": name,
        "output_dir": str(tmp_path / "runs"),
        "device": "cpu",
        "data": {"dataset": "noise_blobs", "cache_dir": str(tmp_path / "cache")},
        "evaluation": {"ways": 3, "shots": 1, "queries": 2, "val_episodes": 6, "test_episodes": 4},
        "strategy": {
            "learner": "search_toy",
            "backbone": {"flat_linear": {"features": {"choice": [4, 8]}}},
            "train_episodes": {"ways": 3, "shots": 1, "queries": 2},
            "meta_batch_size": 2,
            "outer_lr": {"log_uniform": [0.001, 0.1]},
            **(strategy or {}),
        },
        "training": {"meta_steps": 4, "eval_every": 2, "checkpoint_every": 2, **(training or {})},
        "search": {"trials": 2, "sampler": "random", "pruner": "none", "wilcoxon": False, **(search or {})},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return str(path)


def load_study(run_dir):
    return optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{run_dir / 'study.db'}")


def dashboard_get(storage: str, path: str) -> dict:
    """What optuna-dashboard's web API answers for ``path`` on ``storage``."""
    dashboard = pytest.importorskip("optuna_dashboard")
    app = dashboard.wsgi(storage)
    environ: dict = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    status = []
    body = b"".join(app(environ, lambda code, headers, exc_info=None: status.append(code)))
    assert status == ["200 OK"]
    return json.loads(body)


# ---------------------------------------------------------------------- tests


def test_search_writes_the_run_directory_and_resumes_without_redoing(tmp_path):
    path = write_recipe(tmp_path)
    summary = run_search(path, default_host(), quiet=True)
    run = tmp_path / "runs" / "toy"
    assert summary.counts()["complete"] == 2 and summary.best
    for n in range(2):
        folder = run / "trials" / str(n)
        assert {"params.json", "metrics.json", "log.txt", "checkpoint.pt"} <= {p.name for p in folder.iterdir()}
        assert json.loads((folder / "metrics.json").read_text())["state"] == "complete"
    best = yaml.safe_load((run / "best" / "strategy.yaml").read_text())
    assert "choice" not in json.dumps(best["strategy"]) and best["training"]["meta_steps"] == 4
    assert (run / "best" / "checkpoint.pt").is_file() and (run / "recipe.yaml").is_file()
    assert summary.test[summary.best[0]]["n"] == 4
    assert "Best trial" in (run / "report.md").read_text()
    study = load_study(run)
    finished = [t.datetime_complete for t in study.trials]
    storage = f"sqlite:///{run / 'study.db'}"
    (listed,) = dashboard_get(storage, "/api/studies")["study_summaries"]
    assert len(dashboard_get(storage, f"/api/studies/{listed['study_id']}")["trials"]) == 2

    page = (run / "report.html").stat().st_mtime_ns
    again = run_search(path, default_host(), quiet=True)  # resumes: nothing is retrained
    assert [t.datetime_complete for t in load_study(run).trials] == finished
    assert again.best == summary.best and again.test == summary.test
    assert (run / "report.html").stat().st_mtime_ns > page  # the report is refreshed by every run

    more = write_recipe(tmp_path, search={"trials": 3})  # a bigger budget extends the same study
    assert len(run_search(more, default_host(), quiet=True).trials) == 3


def test_a_changed_problem_is_refused_on_resume(tmp_path):
    run_search(write_recipe(tmp_path, search={"trials": 1}), default_host(), quiet=True)
    changed = write_recipe(tmp_path, search={"trials": 1}, training={"meta_steps": 2})
    with pytest.raises(AutometaError, match="'training' changed"):
        run_search(changed, default_host(), quiet=True)


def test_diverging_and_raising_trials_are_recorded_and_the_study_goes_on(tmp_path):
    strategy = {"learner": {"choice": {"search_toy": {"diverge": {"choice": [True, False]}, "explode": {"choice": [True, False]}}}}}
    summary = run_search(write_recipe(tmp_path, strategy=strategy, search={"trials": 5}), default_host(), quiet=True)
    run = tmp_path / "runs" / "toy"
    by_kind = {}
    for trial in summary.trials:
        options = (trial.params["learner.search_toy.diverge"], trial.params["learner.search_toy.explode"])
        by_kind.setdefault(options, []).append(trial)
    assert len(summary.trials) == 5
    for (diverge, explode), trials in by_kind.items():
        for trial in trials:
            log = (run / "trials" / str(trial.number) / "log.txt").read_text()
            if explode:
                assert trial.state == "failed" and "toy plugin bug" in trial.reason and "Traceback" in log
            elif diverge:
                assert trial.state == "failed" and "TrainingError" in trial.reason and "Traceback" in log
            else:
                assert trial.state == "complete"
    assert any(t.state == "failed" for t in summary.trials) and any(t.state == "complete" for t in summary.trials)


def test_pruner_stops_at_least_a_third_of_trials_in_a_space_with_bad_regions(tmp_path):
    strategy = {"learner": {"search_toy": {"blind": {"choice": [True, False]}}}}
    search = {"trials": 9, "pruner": "median", "startup_trials": 2, "wilcoxon": True}
    summary = run_search(write_recipe(tmp_path, strategy=strategy, search=search), default_host(), quiet=True)
    assert [t.reason for t in summary.trials if t.state == "failed"] == []  # e.g. the Wilcoxon pruner's scipy missing
    pruned = [t for t in summary.trials if t.state == "pruned"]
    assert len(pruned) >= 3
    assert all(t.steps < 4 for t in pruned)
    best = {t.number: t for t in summary.trials}[summary.best[0]]
    assert best.params["learner.search_toy.blind"] is False


def test_multi_objective_search_reports_a_pareto_front(tmp_path):
    search = {"trials": 3, "objectives": ["accuracy", "params", "flops"]}
    summary = run_search(write_recipe(tmp_path, search=search), default_host(), quiet=True)
    data = summary.as_dict()
    assert data["objectives"] == ["accuracy", "params", "flops"] and data["best"]
    trials = {t["number"]: t for t in data["trials"]}
    front = [trials[n]["values"] for n in data["best"]]
    for values in front:  # nobody on the front is dominated by another trial
        for other in (t["values"] for t in trials.values() if t["values"]):
            assert not (other[0] >= values[0] and other[1] <= values[1] and other[2] <= values[2] and other != values)
    params = {t["params"]["backbone.flat_linear.features"]: t["values"][1] for t in trials.values()}
    assert params.get(4, 0) < params.get(8, float("inf"))
    assert "Pareto front" in (tmp_path / "runs" / "toy" / "report.md").read_text()


def test_a_corrupt_storage_file_is_one_clear_error(tmp_path):
    path = write_recipe(tmp_path)
    run = tmp_path / "runs" / "toy"
    run.mkdir(parents=True)
    (run / "study.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(AutometaError, match="cannot be opened as an Optuna study"):
        run_search(path, default_host(), quiet=True)


def test_interrupted_trial_is_retried_from_its_checkpoint(tmp_path, monkeypatch):
    path = write_recipe(tmp_path, search={"trials": 2})
    from autometa.search import trial as trainer  # the trial trains through its imported train()

    real_train = trainer.train
    calls = {"n": 0}

    def train_then_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # Ctrl-C in the second trial, after its first checkpoint
            on_validation = kwargs["on_validation"]

            def interrupt(step, result):
                on_validation(step, result)
                raise KeyboardInterrupt

            kwargs["on_validation"] = interrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(trainer, "train", train_then_interrupt)
    with pytest.raises(AutometaError) as info:
        run_search(path, default_host(), quiet=True)
    assert info.value.exit_code == 130 and "resume" in str(info.value)
    run = tmp_path / "runs" / "toy"
    assert json.loads((run / "trials" / "1" / "metrics.json").read_text())["state"] == "interrupted"
    assert (run / "report.html").is_file()  # what was done, shown even after Ctrl-C

    summary = run_search(path, default_host(), quiet=True)
    states = {t.number: t.state for t in summary.trials}
    assert states == {0: "complete", 1: "failed", 2: "complete"}
    assert count_finished(load_study(run)) == 2
    assert "resuming from its checkpoint" in (run / "trials" / "2" / "log.txt").read_text()


def test_a_search_where_every_trial_failed_exits_non_zero_with_one_line(tmp_path):
    from typer.testing import CliRunner

    from autometa.cli import app
    from autometa.errors import SearchFailed

    path = write_recipe(tmp_path, strategy={"learner": {"search_toy": {"explode": True}}},
                        search={"trials": 2})
    result = CliRunner().invoke(app, ["search", path, "--quiet"])
    assert isinstance(result.exception, SearchFailed) and SearchFailed.exit_code == 1
    message = str(result.exception)
    assert message.startswith("search toy: no trial completed (0 pruned, 2 failed of 2)") and "\n" not in message
    assert "trial 0 failed with RuntimeError" in message and "trials/0/log.txt" in message
    assert (tmp_path / "runs" / "toy" / "report.md").is_file()  # the record of what failed stays


def test_compression_added_to_a_finished_run_is_made_on_rerun(tmp_path):
    import json

    import yaml

    path = write_recipe(tmp_path)
    first = run_search(path, default_host(), quiet=True)
    assert first.artifacts is None and not (tmp_path / "runs" / "toy" / "artifacts").exists()
    recipe = yaml.safe_load(open(path))
    recipe["compression"] = {"pruner": {"magnitude": {"amount": 0.3, "finetune_steps": 0}}}
    recipe["export"] = {"formats": ["torch_export"]}
    open(path, "w").write(yaml.safe_dump(recipe))
    second = run_search(path, default_host(), quiet=True)
    card = json.loads((second.artifacts / "model_card.json").read_text())
    assert [s["stage"] for s in card["stages"]] == ["original", "pruner"] and card["artifacts"][0]["file"] == "predictor.pt2"
    made, kept = (second.artifacts / "model_card.json").stat().st_mtime_ns, card["stages"][1]["nonzero_parameters"]
    run_search(path, default_host(), quiet=True)  # unchanged sections: the artifacts are reused
    assert (second.artifacts / "model_card.json").stat().st_mtime_ns == made
    recipe["compression"]["pruner"]["magnitude"]["amount"] = 0.6  # a changed stage: remade
    open(path, "w").write(yaml.safe_dump(recipe))
    run_search(path, default_host(), quiet=True)
    card = json.loads((second.artifacts / "model_card.json").read_text())
    assert card["stages"][1]["nonzero_parameters"] < kept

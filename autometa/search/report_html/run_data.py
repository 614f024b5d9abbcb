"""What the HTML report shows, read from a run directory and its study (files only: no data set, no model).

Each trial's learning curve comes from its ``metrics.json`` (``history``); a trial
without one (still running, or from an older autometa) falls back to the
validation means and per-episode scores Optuna stored. The winner's episodes come
from ``best/val_preview.npz``, the compression stages from the model card.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from autometa.errors import RunDirectoryError
from autometa.learning.evaluation import EvalResult
from autometa.search.preview import PreviewEpisode, read_preview
from autometa.search.pruning import episode_key
from autometa.search.identity import STUDY_NAME
from autometa.search.redact import redact_storage
from autometa.search.run_directory import RunDirectory, read_json
from autometa.search.summary import TrialSummary, best_numbers, summarize


@dataclass
class ValPoint:
    """One validation of a trial: mean accuracy and its 95% CI (fractions) over ``n`` episodes."""

    step: int
    mean: float
    ci95: float | None
    n: int | None


@dataclass
class TrialCurves:
    """A trial as the report draws it: its summary, its validation and training curves."""

    trial: TrialSummary
    val: list[ValPoint]
    train: list[dict[str, float]]

    @property
    def score(self) -> float | None:
        """The first objective, or for a pruned or failed trial its last validation."""
        if self.trial.values:
            return self.trial.values[0]
        return self.val[-1].mean if self.val else None

    @property
    def last_step(self) -> int | None:
        steps = [p.step for p in self.val] + [int(r["step"]) for r in self.train]
        return self.trial.steps if self.trial.steps is not None else max(steps, default=None)


@dataclass
class RunData:
    """One run directory and its study, as the report needs them."""

    root: Path
    recipe: dict[str, Any]
    storage: str  #: as shown: without its password (autometa.search.redact)
    study: optuna.Study
    trials: list[TrialCurves]
    best: list[int]
    model_card: dict[str, Any] | None
    preview: tuple[int, list[PreviewEpisode]] | None

    @property
    def name(self) -> str:
        return str(self.recipe.get("name", self.root.name))

    @property
    def objectives(self) -> list[str]:
        return list((self.recipe.get("search") or {}).get("objectives") or ["accuracy"])

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    @property
    def meta_steps(self) -> int:
        return int(self.recipe["training"]["meta_steps"])

    def trial(self, number: int) -> TrialCurves:
        return next(t for t in self.trials if t.trial.number == number)


def default_storage(root: Path) -> str:
    """The storage a run directory holds: its journal file or its SQLite database."""
    run = RunDirectory(root)
    if run.journal_file.is_file():
        return str(run.journal_file)
    if run.sqlite_file.is_file():
        return f"sqlite:///{run.sqlite_file}"
    raise RunDirectoryError(
        f"{root}: no study.db or journal.log; pass the run directory of a search, or --storage for a database"
    )


def open_study_readonly(spec: str) -> optuna.Study:
    """The run's study, opened the way optuna-dashboard does (no schema upgrade, no table creation)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if "://" in spec:
            storage: Any = optuna.storages.RDBStorage(spec, skip_compatibility_check=True, skip_table_creation=True)
        else:
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            storage = JournalStorage(JournalFileBackend(spec))
        return optuna.load_study(study_name=STUDY_NAME, storage=storage)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunDirectoryError(f"storage {spec}: cannot read the search's study ({reason})") from None


def load_run(root: Path, study: optuna.Study, storage: str) -> RunData:
    """Everything the report shows about the run in ``root`` whose study is ``study``."""
    run = RunDirectory(Path(root))
    if not run.recipe_file.is_file():
        raise RunDirectoryError(f"{run.root}: no recipe.yaml; pass the run directory of a search (runs/<name>)")
    recipe = yaml.safe_load(run.recipe_file.read_text(encoding="utf-8")) or {}
    frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
    trials = [_curves(summary, frozen[summary.number]) for summary in summarize(study, run)]
    card = read_json(run.root / "artifacts" / "model_card.json")
    return RunData(run.root, recipe, redact_storage(storage), study, trials, best_numbers(study), card, read_preview(run.preview_file))


def _curves(summary: TrialSummary, frozen: optuna.trial.FrozenTrial) -> TrialCurves:
    history = summary.metrics.get("history") or {}
    val = [ValPoint(int(p["step"]), p["mean"], p.get("ci95"), p.get("n")) for p in history.get("val", [])]
    if not val:  # a running trial, or one from before metrics.json kept its curve
        for step in sorted(frozen.intermediate_values):
            scores = frozen.user_attrs.get(episode_key(step))
            ci95 = EvalResult.from_scores(scores).ci95 if scores else None
            val.append(ValPoint(step, frozen.intermediate_values[step], ci95, len(scores) if scores else None))
    return TrialCurves(summary, val, list(history.get("train", [])))


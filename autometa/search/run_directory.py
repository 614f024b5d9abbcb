"""The run directory: everything one search leaves behind, in a layout a user can trust.

::

    runs/<name>/
      recipe.yaml            the resolved recipe (every default filled in)
      study.db               Optuna storage (SQLite), or journal.log with --workers N
      trials/<number>/       params.json, metrics.json, log.txt, checkpoint.pt
      best/                  strategy.yaml (re-trains the winner, no search) + checkpoint.pt,
                             val_preview.npz (a few validation episodes with the winner's predictions)
      artifacts/             compression and export output
      artifacts-store/       files attached to the study as Optuna artifacts (for optuna-dashboard)
      report.md              what was tried, what won, what it scored
      report.html            the same with plots, learning curves and the winner's episodes

Re-running a search on the same directory resumes it, so the directory refuses
a recipe whose searched problem differs (data, space, training, evaluation) and
is locked while a search uses it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autometa.errors import RunDirectoryError
from autometa.recipe.loading import dump_recipe
from autometa.recipe.schema import Recipe, Strategy

#: Recipe sections that may change between runs of one study (they do not change what a trial means).
RESUMABLE_SECTIONS = ("search", "compression", "export", "device")


@dataclass(frozen=True)
class RunDirectory:
    """Paths and files of one run directory (``artifacts/`` is written by :mod:`autometa.deploy.pipeline`)."""

    root: Path

    @classmethod
    def for_recipe(cls, recipe: Recipe) -> RunDirectory:
        return cls(Path(recipe.output_dir) / recipe.name)

    @property
    def recipe_file(self) -> Path:
        return self.root / "recipe.yaml"

    @property
    def sqlite_file(self) -> Path:
        return self.root / "study.db"

    @property
    def journal_file(self) -> Path:
        return self.root / "journal.log"

    @property
    def trials_dir(self) -> Path:
        return self.root / "trials"

    @property
    def best_dir(self) -> Path:
        return self.root / "best"

    @property
    def report_file(self) -> Path:
        return self.root / "report.md"

    @property
    def html_report_file(self) -> Path:
        return self.root / "report.html"

    @property
    def preview_file(self) -> Path:
        return self.best_dir / "val_preview.npz"

    @property
    def artifact_store(self) -> Path:
        return self.root / "artifacts-store"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory for one search process (its worker processes share it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunDirectoryError(
                    f"{self.root}: another 'autometa search' is using this run directory; "
                    "wait for it or give the recipe another name"
                ) from None
            yield

    def prepare(self, recipe: Recipe) -> None:
        """Write the resolved recipe, refusing one that changes what earlier trials measured."""
        if self.recipe_file.is_file():
            previous = yaml.safe_load(self.recipe_file.read_text(encoding="utf-8")) or {}
            current = recipe.model_dump(mode="json")
            changed = [
                key for key in current
                if key not in RESUMABLE_SECTIONS and previous.get(key) != current[key]
            ]
            if changed:
                raise RunDirectoryError(
                    f"{self.root}: holds a search of a different recipe ('{changed[0]}' changed); "
                    "give the recipe a new name or delete the directory"
                )
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        self.recipe_file.write_text(dump_recipe(recipe), encoding="utf-8")

    def default_storage(self, workers: int) -> str:
        """The storage this directory already has, else SQLite (one process) or a journal (workers)."""
        if self.journal_file.exists():
            return str(self.journal_file)
        if self.sqlite_file.exists() or workers <= 1:
            return f"sqlite:///{self.sqlite_file}"
        return str(self.journal_file)

    def trial_dir(self, number: int) -> Path:
        path = self.trials_dir / str(number)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_best(self, recipe: Recipe, strategy: Strategy, checkpoint: Path | None) -> Path:
        """``best/strategy.yaml``: the recipe with the winner's concrete strategy (trainable as is)."""
        self.best_dir.mkdir(parents=True, exist_ok=True)
        data = recipe.model_dump(mode="json")
        data["name"] = f"{recipe.name}-best"
        data["strategy"] = strategy.model_dump(mode="json")
        path = self.best_dir / "strategy.yaml"
        header = f"# The best strategy of search '{recipe.name}': retrain with 'autometa train {path}'\n"
        path.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        if checkpoint is not None and checkpoint.is_file():
            shutil.copyfile(checkpoint, self.best_dir / "checkpoint.pt")
        return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically, so a killed process never leaves half a file."""
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

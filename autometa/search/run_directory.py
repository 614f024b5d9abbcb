"""The run directory: everything one search leaves behind, in a layout a user can trust.

::

    runs/<name>/
      recipe.yaml            the resolved recipe (every default filled in)
      study.db               Optuna storage (SQLite; journal.log in runs made by autometa 0.1 with --workers)
      study.json             which study the trials belong to (its id and the storage, without password)
      search.log             the run's log: every process's messages and tracebacks
      trials/<number>/       params.json, metrics.json, log.txt, checkpoint.pt
      best/                  strategy.yaml (re-trains the winner, no search) + checkpoint.pt,
                             val_preview.npz (a few validation episodes with the winner's predictions)
      artifacts/             compression and export output
      artifacts-store/       files attached to the study as Optuna artifacts (for optuna-dashboard)
      report.md              what was tried, what won, what it scored
      report.html            the same with plots, learning curves and the winner's episodes

Re-running a search on the same directory resumes it, so the directory refuses
a recipe whose searched problem differs (data, space, training, evaluation) and
is locked while a search uses it: exclusively by a search on its own storage,
shared by the workers of one study on an outside storage (``--storage``).
Files are written atomically (a temporary file, then a rename), so a killed
process or a full disk never leaves half a file.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from autometa.deploy.pipeline import ENSEMBLE_DIR
from autometa.errors import RunDirectoryError
from autometa.recipe.bounded_yaml import load_yaml_file
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
    def study_record_file(self) -> Path:
        return self.root / "study.json"

    @property
    def log_file(self) -> Path:
        return self.root / "search.log"

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
    def lock(self, *, shared: bool = False) -> Iterator[RunLock]:
        """Hold the directory: exclusively for one search process (its worker processes share it), or
        ``shared`` by the processes of one study on an outside storage."""
        created = None  # the outermost folder this call creates (output_dir too, if it is new)
        if not self.root.exists():
            created = self.root
            while not created.parent.exists():
                created = created.parent
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            try:
                fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunDirectoryError(
                    f"{self.root}: another 'autometa search' is using this run directory; "
                    "wait for it or give the recipe another name"
                ) from None
            yield RunLock(created, handle)

    def prepare(self, recipe: Recipe) -> None:
        """Write the resolved recipe, refusing one that changes what earlier trials measured."""
        if self.recipe_file.is_file():
            previous = load_yaml_file(self.recipe_file) or {}
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
        write_text(self.recipe_file, dump_recipe(recipe))

    def default_storage(self) -> str:
        """The storage this directory already has (a journal if autometa 0.1 made one), else its SQLite file."""
        if self.journal_file.exists():
            return str(self.journal_file)
        return f"sqlite:///{self.sqlite_file}"

    def trial_folders(self) -> list[Path]:
        """The trial folders this directory holds."""
        return [path for path in self.trials_dir.glob("*") if path.is_dir()] if self.trials_dir.is_dir() else []

    def study_record(self) -> dict[str, Any] | None:
        """Which study the trials belong to (``{"uid", "storage"}``), None if not recorded yet."""
        return read_json(self.study_record_file)

    def write_study_record(self, record: dict[str, Any]) -> None:
        write_json(self.study_record_file, record)

    def trial_dir(self, number: int) -> Path:
        path = self.trials_dir / str(number)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_ensemble(self, checkpoints: dict[int, Path]) -> Path:
        """``best/ensemble/<rank>-trial<n>.pt``: the checkpoints of ``export.ensemble``'s members (trial
        number -> checkpoint, best first), replacing an earlier set."""
        folder = self.best_dir / ENSEMBLE_DIR
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for rank, (number, checkpoint) in enumerate(checkpoints.items()):
            replace_atomically(folder / f"{rank}-trial{number}.pt", lambda partial: shutil.copyfile(checkpoint, partial))
        return folder

    def write_best(self, recipe: Recipe, strategy: Strategy, checkpoint: Path | None) -> Path:
        """``best/strategy.yaml``: the recipe with the winner's concrete strategy (trainable as is)."""
        self.best_dir.mkdir(parents=True, exist_ok=True)
        data = recipe.model_dump(mode="json")
        data["name"] = f"{recipe.name}-best"
        data["strategy"] = strategy.model_dump(mode="json")
        path = self.best_dir / "strategy.yaml"
        header = f"# The best strategy of search '{recipe.name}': retrain with 'autometa train {path}'\n"
        write_text(path, header + yaml.safe_dump(data, sort_keys=False))
        if checkpoint is not None and checkpoint.is_file():
            replace_atomically(self.best_dir / "checkpoint.pt", lambda partial: shutil.copyfile(checkpoint, partial))
        return path


@dataclass
class RunLock:
    """A hold on a run directory; ``created``: the outermost folder this command made for it (None if it
    existed)."""

    created: Path | None
    handle: IO[str]

    def discard_if_fresh(self) -> None:
        """Remove the folders this command created, unless another process of the study holds them too."""
        if self.created is None:
            return
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        shutil.rmtree(self.created, ignore_errors=True)


def replace_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """``write`` a temporary file beside ``path``, then rename it: a killed process or a full disk leaves the
    old file whole. The temporary name is unique to this process (workers may write the same file)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (see :func:`replace_atomically`)."""
    replace_atomically(path, lambda partial: partial.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically, so a killed process never leaves half a file."""
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

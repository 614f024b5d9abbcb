"""Refit: the winning strategy retrained on meta-train + meta-val, so the shipped model sees every class
the search was allowed to learn from (``export.refit``).

The search needs meta-val to choose; once it has chosen, those classes are
extra training data. The refit trains the winner's concrete strategy with the
same budget and seed on the joined split, in ``refit/<trial>/`` (resumable like
any training run), and copies its checkpoint to ``best/refit.pt``, which
compression and export then use instead of ``best/checkpoint.pt``. Its
validation scores are optimistic (meta-val is now training data) and are not
used; its test scores, on the untouched meta-test episodes, are on the model
card.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autometa.components.registry import Registry
from autometa.data.dataset import SplitData
from autometa.data.loading import load_recipe_data
from autometa.deploy.pipeline import REFIT_CHECKPOINT
from autometa.learning.checkpoint import CHECKPOINT_NAME, load_checkpoint
from autometa.learning.trainer import train
from autometa.recipe.schema import Recipe
from autometa.search.run_directory import RunDirectory


def with_val_in_train(data: SplitData) -> SplitData:
    """``data`` with meta-val's classes added to meta-train (meta-val and meta-test unchanged)."""
    return SplitData(
        data.train.joined(data.val), data.val, data.test, preprocessing=data.preprocessing, warnings=data.warnings
    )


def refit_winner(recipe: Recipe, run: RunDirectory, trial: int, data: SplitData | None, registry: Registry) -> Path:
    """Train trial ``trial``'s strategy (from ``best/checkpoint.pt``) on meta-train + meta-val;
    returns ``best/refit.pt``. A finished refit of the same trial is not redone."""
    strategy = load_checkpoint(run.best_dir / CHECKPOINT_NAME, registry).strategy
    data = data or load_recipe_data(recipe, registry)
    workdir = run.root / "refit" / str(trial)
    train(recipe, strategy, with_val_in_train(data), registry, workdir=workdir)
    target = run.best_dir / REFIT_CHECKPOINT
    shutil.copyfile(workdir / CHECKPOINT_NAME, target)
    return target

"""Checkpoints: a learner saved with everything needed to resume its training or rebuild and re-score it.

A checkpoint is one ``torch.save`` file written atomically (a killed process
never leaves half of one), readable with ``weights_only=True``: plain tensors,
numbers and strings. It holds the learner's state, the optimizer, schedule,
sampler and random states (so a resumed run ends with the same weights as an
uninterrupted one), and the strategy, recipe and preprocessing it was made with.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from autometa.components.registry import Registry
from autometa.data.dataset import Preprocessing
from autometa.errors import ArtifactError, TrainingError, first_line
from autometa.learning.learner import MetaLearner, build_learner
from autometa.recipe.schema import Recipe, Strategy

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = 1


@dataclass
class Checkpoint:
    """A saved learner with everything needed to rebuild and re-score it."""

    learner: MetaLearner
    strategy: Strategy
    recipe: Recipe
    preprocessing: Preprocessing
    step: int


def write_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` (with its format number) atomically: a temporary file, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, partial)
    os.replace(partial, path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The payload saved at ``path``; an :class:`ArtifactError` naming the file if it is not a checkpoint."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # torch's message suggests weights_only=False: wrong advice for a damaged file
        raise ArtifactError(
            f"{path}: not a readable autometa checkpoint ({type(exc).__name__}); re-run training or pass another file"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ArtifactError(f"{path}: not an autometa checkpoint (format {CHECKPOINT_FORMAT}); re-run training")
    return payload


def load_checkpoint(path: Path, registry: Registry, *, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the learner saved at ``path`` from ``registry``'s plugins, on ``device``."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: checkpoint not found; train first ('autometa train' or 'autometa search')")
    payload = read_checkpoint(path)
    try:
        strategy = Strategy.model_validate(payload["strategy"])
        recipe = Recipe.model_validate(payload["recipe"])
        fields = dict(payload["preprocessing"])
        fields["value_range"] = tuple(fields["value_range"])
        preprocessing = Preprocessing(**fields)
        learner = build_learner(strategy, preprocessing, registry)
        learner.load_state_dict(payload["learner"])
        step = int(payload["step"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # pydantic's ValidationError is a ValueError
        raise ArtifactError(
            f"{path}: a damaged or incompatible autometa checkpoint ({type(exc).__name__}: {first_line(exc)}); "
            "re-run training or pass another file"
        ) from exc
    learner.to(device).eval()
    return Checkpoint(learner, strategy, recipe, preprocessing, step)


def rng_state() -> dict[str, Any]:
    """Every random state a training run draws from (torch, Python, CUDA when present)."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

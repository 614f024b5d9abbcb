"""The compression pipeline and the jobs around it: compress a run's winner, export a checkpoint, score a file.

:func:`compress` runs the recipe's stages in order (prune, distil, quantize) and
measures every stage's accuracy, size, FLOPs and latency for the model card.
:func:`compress_run` does that to the best trial of a search and exports,
verifies and documents the result in ``runs/<name>/artifacts/``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from autometa.components.registry import Registry
from autometa.data.dataset import Preprocessing
from autometa.data.episodes import Episode, EpisodeSampler
from autometa.data.loading import at_size, load_data
from autometa.deploy.ensemble import EnsemblePredictor
from autometa.deploy.exporter import describe_predictor, load_artifact, predict_episode
from autometa.deploy.measure import LATENCY_RUNS, measure_latencies
from autometa.deploy.model_card import (
    Accuracy,
    ModelCard,
    StageCard,
    machine_description,
    preprocessing_dict,
    stage_card,
)
from autometa.deploy.stages import STAGES, CompressionContext, StageOutput, frozen_copy
from autometa.deploy.verify import ExportReport, export_and_verify
from autometa.errors import ArtifactError, AutometaError, first_line
from autometa.learning.checkpoint import load_checkpoint
from autometa.learning.evaluation import EvalResult, evaluate, evaluate_predictor, split_episodes
from autometa.recipe.loading import load_recipe
from autometa.recipe.schema import CompressionSection, Recipe


@dataclass
class CompressionResult:
    """The final predictor and one model-card row per stage (``original`` first)."""

    predictor: nn.Module
    stages: list[StageCard]


def compress(
    predictor: nn.Module,
    section: CompressionSection | None,
    context: CompressionContext,
    test_episodes: Sequence[Episode],
    *,
    latency_runs: int = LATENCY_RUNS,
) -> CompressionResult:
    """Run the section's stages in order (prune, distil, quantize) and score each result.

    A stage that is not kept (``kept=False``) is recorded and its input passed on.
    Latencies of all stages are measured side by side (calls in turn) on the first
    test episode, so their ratios hold on a busy machine.
    """
    registry = context.registry
    example = test_episodes[0].predictor_inputs()
    current = predictor.eval()
    chosen = [
        (stage, method, ref, registry.create(stage, ref)) for stage, method in STAGES.items()
        if section is not None and (ref := getattr(section, stage, None)) is not None
    ]
    for _, _, _, plugin in chosen:  # refuse up front, not after another stage's minutes
        plugin.check(current)
    # (stage, plugin, predictor, output) per stage; latencies are measured together at the end.
    rows: list[tuple[str, str, nn.Module, StageOutput]] = [("original", "-", current, StageOutput(current))]
    for stage, method, ref, plugin in chosen:
        output: StageOutput = getattr(plugin, method)(current, context)
        rows.append((stage, ref.name, output.predictor.eval(), output))
        if output.kept:
            current = output.predictor.eval()
    latencies = measure_latencies([model for _, _, model, _ in rows], example, runs=latency_runs)
    cards = [
        stage_card(
            stage, plugin, model, Accuracy.from_eval(evaluate_predictor(model, test_episodes)), example, latency,
            kept=output.kept, notes=output.notes,
        )
        for (stage, plugin, model, output), latency in zip(rows, latencies)
    ]
    return CompressionResult(current, cards)


#: Written last into the artifacts folder: the SHA-256 of what they were made from (the
#: checkpoint, and the recipe's ``compression`` and ``export`` sections).
SOURCE_STAMP = "source.sha256"
#: In ``best/``: the winner retrained on meta-train + meta-val (``export.refit``, see ``autometa.search.refit``).
REFIT_CHECKPOINT = "refit.pt"
#: In ``best/``: the checkpoints of ``export.ensemble``'s members, ``<rank>-trial<n>.pt`` (written by the search).
ENSEMBLE_DIR = "ensemble"


def compress_run(
    run_dir: Path, registry: Registry, *, recipe: Recipe | None = None, latency_runs: int = LATENCY_RUNS,
    skip_if_current: bool = False,
) -> Path:
    """Compress, export and document the best trial of ``run_dir``; returns ``run_dir/artifacts``.

    Reads ``best/checkpoint.pt`` (``best/refit.pt`` with ``export.refit``); the recipe (default: the run's resolved
    ``recipe.yaml``) gives the data, the evaluation episodes, the ``compression``
    stages and the ``export.formats``. Writes each exported file and
    ``model_card.json`` / ``model_card.md``. With ``skip_if_current`` (a resumed
    search) nothing is redone when the artifacts were made from this very checkpoint
    with the same ``compression`` and ``export`` sections; a rerun whose recipe gained
    or changed them remakes the artifacts. Components come from ``registry``.
    """
    run_dir = Path(run_dir)
    best = run_dir / "best" / "checkpoint.pt"
    if not best.is_file():
        raise AutometaError(f"{best}: no best trial to compress; run 'autometa search' on the recipe first")
    recipe = recipe or load_recipe(run_dir / "recipe.yaml", registry)
    if recipe.export.refit:
        best = best.with_name(REFIT_CHECKPOINT)
        if not best.is_file():
            raise AutometaError(f"{best}: export.refit is set but the winner was not refit; run 'autometa search' again")
    members = ensemble_checkpoints(run_dir / "best", recipe.export.ensemble)
    artifacts = run_dir / "artifacts"
    source = artifacts / SOURCE_STAMP
    digest = _source_digest([best, *members], recipe)
    if skip_if_current and source.is_file() and source.read_text() == digest:
        return artifacts
    checkpoint = load_checkpoint(best, registry)
    data = at_size(load_data(recipe.data, registry), checkpoint.preprocessing.image_size)
    predictor = checkpoint.learner.deployable_predictor()
    if members:
        predictor = ensemble_predictor(members, checkpoint.preprocessing, registry)
    teacher = frozen_copy(predictor)
    sampler = EpisodeSampler(
        data.train, checkpoint.strategy.train_episodes, preprocessing=data.preprocessing, seed=recipe.seed
    )
    context = CompressionContext(
        teacher=teacher,
        sample_episode=lambda: sampler.sample(1).episode(0),
        val_episodes=split_episodes(recipe, data, "val"),
        preprocessing=data.preprocessing,
        registry=registry,
    )
    test_episodes = split_episodes(recipe, data, "test")
    result = compress(predictor, recipe.compression, context, test_episodes, latency_runs=latency_runs)
    exporters = [registry.create("exporter", ref) for ref in recipe.export.formats]
    reports = export_and_verify(result.predictor, exporters, artifacts, test_episodes[:3]) if exporters else []
    ModelCard(
        name=recipe.name,
        strategy=checkpoint.strategy.model_dump(mode="json"),
        predictor=describe_predictor(result.predictor),
        dataset=recipe.data.dataset.to_data(),
        episode_shape=recipe.evaluation.shape.model_dump(),
        preprocessing=preprocessing_dict(data.preprocessing),
        refit=recipe.export.refit,
        ensemble=[path.stem for path in members],
        stages=result.stages,
        artifacts=reports,
        machine=machine_description(),
    ).write(artifacts)
    source.write_text(digest)
    return artifacts


def ensemble_checkpoints(best_dir: Path, size: int) -> list[Path]:
    """The member checkpoints ``export.ensemble: size`` ships, best first (none for ``size`` 1)."""
    if size == 1:
        return []
    folder = best_dir / ENSEMBLE_DIR
    members = sorted(folder.glob("*-trial*.pt"), key=lambda path: int(path.name.split("-")[0])) if folder.is_dir() else []
    if len(members) < 2:
        raise AutometaError(
            f"{folder}: export.ensemble is {size} but fewer than two trials completed with a checkpoint; "
            "run more trials or set export.ensemble: 1"
        )
    return members


def ensemble_predictor(members: list[Path], preprocessing: Preprocessing, registry: Registry) -> EnsemblePredictor:
    """The members' deployable predictors as one; they must take the same images."""
    predictors = []
    for path in members:
        checkpoint = load_checkpoint(path, registry)
        if checkpoint.preprocessing != preprocessing:
            raise AutometaError(
                f"{path}: export.ensemble: this member takes {preprocessing_dict(checkpoint.preprocessing)}, the "
                f"winner {preprocessing_dict(preprocessing)}; search one image_size or set export.ensemble: 1"
            )
        predictors.append(checkpoint.learner.deployable_predictor())
    return EnsemblePredictor(predictors)


def _source_digest(checkpoints: list[Path], recipe: Recipe) -> str:
    """What the artifacts depend on: the checkpoints' bytes and the compression and export sections."""
    sections = recipe.model_dump(mode="json", include={"compression", "export"})
    digest = hashlib.sha256()
    for checkpoint in checkpoints:
        digest.update(checkpoint.read_bytes())
    digest.update(json.dumps(sections, sort_keys=True).encode())
    return digest.hexdigest()


def export_checkpoint(
    checkpoint_path: Path, formats: list[str], registry: Registry, out_dir: Path | None = None, *,
    verify_episodes: int = 3,
) -> list[ExportReport]:
    """Export a trained checkpoint's predictor (uncompressed) to ``formats`` and verify each.

    Verification uses the first meta-test episodes of the checkpoint's recipe;
    files go to ``out_dir`` (default: ``export/`` beside the checkpoint).
    """
    checkpoint_path = Path(checkpoint_path)
    checkpoint = load_checkpoint(checkpoint_path, registry)
    out_dir = Path(out_dir) if out_dir else checkpoint_path.parent / "export"
    recipe = checkpoint.recipe
    data = at_size(load_data(recipe.data, registry), checkpoint.preprocessing.image_size)
    episodes = list(split_episodes(recipe, data, "test")[:verify_episodes])
    predictor = checkpoint.learner.deployable_predictor().eval()
    return export_and_verify(predictor, [registry.create("exporter", name) for name in formats], out_dir, episodes)


def evaluate_artifact(
    artifact: Path, recipe_path: Path, registry: Registry, *, episodes: int | None = None
) -> EvalResult:
    """Score an exported predictor file on the meta-test episodes of ``recipe_path``'s data set.

    The episodes are the recipe's fixed test episodes (``evaluation`` shape and
    seed); ``episodes`` overrides their count. Images are resized to the input
    size in the ``model_card.json`` beside the artifact (a strategy's
    ``image_size`` may differ from the data's), or kept at the recipe's size
    without a card. Returns an ``EvalResult``.
    """
    predictor = load_artifact(Path(artifact), registry)
    recipe = load_recipe(recipe_path, registry)
    if episodes is not None:
        recipe = recipe.model_copy(
            update={"evaluation": recipe.evaluation.model_copy(update={"test_episodes": episodes})}
        )
    data = at_size(load_data(recipe.data, registry), card_image_size(Path(artifact).parent))

    def predict(episode: Episode) -> torch.Tensor:
        try:
            return predict_episode(predictor, episode)
        except Exception as exc:  # a file that loads but does not run (damaged, or made for other images)
            raise ArtifactError(
                f"{artifact}: the predictor fails on the episodes of {recipe_path} ({first_line(exc)}); "
                "pass a predictor exported for this data set's images"
            ) from exc

    return evaluate(predict, split_episodes(recipe, data, "test"))


def card_image_size(folder: Path) -> int | None:
    """The input size in ``folder/model_card.json`` (None without a card)."""
    path = folder / "model_card.json"
    return json.loads(path.read_text(encoding="utf-8"))["preprocessing"]["image_size"] if path.is_file() else None

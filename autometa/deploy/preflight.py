"""The export pre-flight: before the first trial trains, every learner the search space can choose is exported.

A learner whose predictor a format cannot express (a linear solve for ONNX, a
layer whose gradient has no forward-op rewrite, code that needs a concrete
episode size) used to fail after the whole search, as a page of traceback. The
pre-flight builds the predictor of each strategy of
:meth:`~autometa.recipe.schema.Recipe.covering_strategies` untrained (every option
of every choice at least once, not their product), lets each compression stage
of the recipe ``check`` it, traces it and lets each exporter ``check`` the trace
(seconds per strategy, all strategies first), then exports it to every format
and verifies the files' logits on a tiny random episode. The first problem is one
line naming the strategy, the operation and the fix.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from autometa.components.registry import Registry
from autometa.data.dataset import Preprocessing
from autometa.data.episodes import Episode
from autometa.deploy.stages import STAGES
from autometa.deploy.tracing import TracedPredictor
from autometa.deploy.verify import export_and_verify, trace_and_check
from autometa.errors import AutometaError
from autometa.learning.learner import build_learner
from autometa.recipe.schema import EvaluationSection, Recipe, Strategy

log = logging.getLogger(__name__)


def preflight(
    recipe: Recipe, preprocessing: Preprocessing, registry: Registry, *, note: Callable[[str], None] = log.info
) -> int:
    """Check that every learner of ``recipe``'s space can be compressed and exported as the recipe asks.

    Does nothing without ``export.formats`` or ``compression``. Returns the number
    of strategies checked; raises the first problem as one line: a
    :class:`~autometa.errors.RecipeError` from a compression stage, an
    :class:`~autometa.errors.ExportError` from tracing or an exporter. A strategy
    whose learner cannot even be built is left to its trials, which fail with the
    reason (the rest of the space may still be searched).
    """
    stages = [
        registry.create(stage, ref) for stage in STAGES
        if recipe.compression is not None and (ref := getattr(recipe.compression, stage)) is not None
    ]
    exporters = [registry.create("exporter", ref) for ref in recipe.export.formats]
    if not stages and not exporters:
        return 0
    start = time.perf_counter()
    strategies = recipe.covering_strategies()
    formats = ", ".join(e.name for e in exporters) or "no format"
    note(f"export pre-flight: {len(strategies)} untrained strategies, compression checks and {formats}")
    checked: list[tuple[str, nn.Module, TracedPredictor | None, Episode]] = []
    for strategy in strategies:  # the quick checks of every strategy first
        name = strategy_name(strategy)
        try:
            predictor = untrained_predictor(strategy, preprocessing, registry)
        except AutometaError as exc:
            log.info("export pre-flight: %s skipped, it cannot be built: %s", name, exc)
            continue
        with _naming(name):
            episode = tiny_episode(recipe.evaluation, preprocessing, getattr(predictor, "static_ways", None))
            for stage in stages:
                stage.check(predictor)
            traced = trace_and_check(predictor, exporters, episode.predictor_inputs()) if exporters else None
        checked.append((name, predictor, traced, episode))
    for name, predictor, traced, episode in checked:
        if traced is None:
            continue
        with _naming(name), tempfile.TemporaryDirectory() as folder:
            export_and_verify(predictor, exporters, Path(folder), [episode], fresh_process=False, traced=traced)
        log.info("export pre-flight: %s exports to %s", name, formats)
    note(f"export pre-flight passed: {len(checked)} strategies in {time.perf_counter() - start:.0f} s")
    return len(checked)


def untrained_predictor(strategy: Strategy, preprocessing: Preprocessing, registry: Registry) -> nn.Module:
    """The deployable predictor of ``strategy``'s learner, built (seeded) but not trained."""
    torch.manual_seed(0)
    return build_learner(strategy, preprocessing, registry).eval().deployable_predictor()


def tiny_episode(evaluation: EvaluationSection, preprocessing: Preprocessing, static_ways: int | None) -> Episode:
    """Random images in the evaluation's episode shape (the predictor's ways if it fixes them), two queries a class."""
    ways = static_ways or evaluation.ways
    image = (preprocessing.channels, preprocessing.image_size, preprocessing.image_size)
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(ways)
    support_y, query_y = labels.repeat_interleave(evaluation.shots), labels.repeat_interleave(2)
    return Episode(
        torch.rand(len(support_y), *image, generator=generator), support_y,
        torch.rand(len(query_y), *image, generator=generator), query_y, ways,
    )


def strategy_name(strategy: Strategy) -> str:
    """A strategy in a few words: ``learner maml {inner_steps: 1} (backbone conv4)``."""
    learner = f"learner {strategy.learner.name}"
    if strategy.learner.options:
        learner += " {" + ", ".join(f"{k}: {v}" for k, v in strategy.learner.options.items()) + "}"
    extras = [f"backbone {strategy.backbone.name}", *(f"regularizer {r.name}" for r in strategy.regularizers)]
    return f"{learner} ({', '.join(extras)})"


@contextlib.contextmanager
def _naming(name: str) -> Iterator[None]:
    """Prefix the one-line error of whatever fails inside with the strategy it failed on."""
    try:
        yield
    except AutometaError as exc:
        raise type(exc)(f"pre-flight: {name}: {exc}") from exc

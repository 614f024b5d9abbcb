"""autometa: AutoML for meta-learning.

Search few-shot learning strategies with Optuna, compress the winner, and ship a
self-contained few-shot predictor. The core names no algorithm: data sets,
augmentations, backbones, meta-learners, inner optimizers, regularizers, pruners, distillers,
quantizers and exporters are all plugins.

This module is the plugin author's API: ``from autometa import hookimpl,
GradientLearner, ...`` (the built-in plugins import exactly these names). Names
load on first use, so ``import autometa`` stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

from autometa import _moved

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_PUBLIC: dict[str, str] = {
    # the plugin contract
    "hookimpl": "autometa.plugins.hookspecs",
    "Component": "autometa.components.component",
    "PluginOptions": "autometa.components.component",
    "ComponentRef": "autometa.components.component",
    "component_type": "autometa.components.component",
    "Registry": "autometa.components.registry",
    # errors a plugin raises
    "AutometaError": "autometa.errors",
    "DataError": "autometa.errors",
    "ExportError": "autometa.errors",
    "PluginError": "autometa.errors",
    "RecipeError": "autometa.errors",
    "TrainingError": "autometa.errors",
    # data sets
    "Dataset": "autometa.data.dataset",
    "ImageClasses": "autometa.data.dataset",
    "Preprocessing": "autometa.data.dataset",
    "SplitData": "autometa.data.dataset",
    "SPLITS": "autometa.data.dataset",
    "assign_groups": "autometa.data.dataset",
    "split_by_group": "autometa.data.dataset",
    "cache_key": "autometa.data.cache",
    "cached": "autometa.data.cache",
    "IMAGE_EXTENSIONS": "autometa.data.image_files",
    "decode_image": "autometa.data.image_files",
    "is_image": "autometa.data.image_files",
    "Episode": "autometa.data.episodes",
    "TaskBatch": "autometa.data.episodes",
    "Augmentation": "autometa.data.augmentation",
    "AugmentationOptions": "autometa.data.augmentation",
    "uniform": "autometa.data.augmentation",
    # backbones and learners
    "Backbone": "autometa.learning.backbone",
    "MetaLearner": "autometa.learning.learner",
    "StepOutput": "autometa.learning.learner",
    "EmbeddingLearner": "autometa.learning.embedding",
    "EmbeddingPredictor": "autometa.learning.embedding",
    "full_precision": "autometa.learning.embedding",
    "GradientLearner": "autometa.learning.gradient",
    "GradientLearnerOptions": "autometa.learning.gradient",
    "InnerOptimizer": "autometa.learning.inner_loop",
    "inner_loop": "autometa.learning.inner_loop",
    "Regularizer": "autometa.learning.regularizer",
    # compression stages and exporters
    "Pruner": "autometa.deploy.stages",
    "Distiller": "autometa.deploy.stages",
    "Quantizer": "autometa.deploy.stages",
    "CompressionContext": "autometa.deploy.stages",
    "StageOutput": "autometa.deploy.stages",
    "episode_accuracy": "autometa.deploy.stages",
    "feature_size": "autometa.deploy.stages",
    "fit_on_episodes": "autometa.deploy.stages",
    "head_needs_feature_size": "autometa.deploy.stages",
    "prune_in_steps": "autometa.deploy.stages",
    "query_cross_entropy": "autometa.deploy.stages",
    "Exporter": "autometa.deploy.exporter",
    "ExporterOptions": "autometa.deploy.exporter",
    "TracedPredictor": "autometa.deploy.tracing",
    "PredictorInputs": "autometa.deploy.measure",
    "count_parameters": "autometa.deploy.measure",
    "count_nonzero_parameters": "autometa.deploy.measure",
    # observers of a search, and progress for slow one-off work
    "Observer": "autometa.plugins.observer",
    "track": "autometa.data.progress",
}

__all__ = ["__version__", *_PUBLIC]

_moved.install()


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'autometa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""The plugin contract: every way to extend autometa, in one file.

A plugin is a module (or object) with functions decorated by ``autometa.hookimpl``
whose names match the specifications below. Register it through the entry-point
group ``autometa`` in your package's ``pyproject.toml``::

    [project.entry-points.autometa]
    my_plugin = "my_package.autometa_plugin"

or load it for one command with ``autometa --plugin my_package.autometa_plugin``.
autometa's own built-in plugins register exactly this way.

Two families of hooks:

* ``register_*`` hooks return a list of *component classes* (see
  :class:`autometa.Component`): each has a ``name`` used in recipes, a docstring
  whose first line describes it, and an ``Options`` pydantic model. autometa
  builds an instance as ``cls(options, **context)``; the context for each kind is
  given below (:mod:`autometa.plugins.kinds` lists the kinds).
* Observer hooks (``search_started`` ... ``search_finished``) are called around
  every search, for loggers and dashboards. They return nothing; an observer that
  raises is reported and does not stop the search. An observer a recipe should
  switch on by name, with options, is a component instead (``register_observers``).
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("autometa")
hookimpl = pluggy.HookimplMarker("autometa")


@hookspec
def register_datasets() -> list[type]:
    """Data sets of images with classes, split class-disjointly for few-shot learning.

    Each class subclasses :class:`autometa.Dataset`; it is built as
    ``cls(options)`` and its ``load(cache_dir)`` returns the meta-train,
    meta-val and meta-test splits as :class:`autometa.SplitData`.
    """


@hookspec
def register_augmentations() -> list[type]:
    """Random, label-preserving image transforms for meta-train images (affine, elastic, flips, ...).

    Each class subclasses :class:`autometa.Augmentation`; it is built as
    ``cls(options)``. Its ``sample(count, generator)`` draws one row of random
    settings per image and its ``apply(images, settings)`` transforms a batch with
    tensor operations only, so a predictor can apply stored settings after export.
    """


@hookspec
def register_backbones() -> list[type]:
    """Feature extractors: ``[B, C, H, W]`` images to ``[B, D]`` embeddings.

    Each class subclasses :class:`autometa.Backbone` (a ``torch.nn.Module``);
    it is built as ``cls(options, in_channels=C, image_size=H)`` and exposes
    ``out_features`` (D).
    """


@hookspec
def register_learners() -> list[type]:
    """Meta-learning algorithms wrapped around a backbone.

    Each class subclasses :class:`autometa.MetaLearner` (or
    :class:`autometa.GradientLearner` / :class:`autometa.EmbeddingLearner`); it is
    built as ``cls(options, backbone=..., ways=..., registry=..., regularizers=...)``:
    the registry lets it build the inner optimizer its options name, and the base
    class attaches the regularizers. It meta-trains on task batches
    (``meta_step``), adapts and predicts on one episode (``predict``) and hands over
    a deployable predictor (``export_predictor``).
    """


@hookspec
def register_inner_optimizers() -> list[type]:
    """Update rules for the inner loop of gradient-based learners (SGD, learned ones).

    Each class subclasses :class:`autometa.InnerOptimizer` (a ``torch.nn.Module``
    whose parameters are meta-learned in the outer loop); it is built as
    ``cls(options, params=..., steps=..., lr=...)`` from the parameters it will
    update, the number of inner steps and the learner's inner learning rate.
    """


@hookspec
def register_regularizers() -> list[type]:
    """Meta-regularizers: terms and constraints on the inner or outer objective.

    Each class subclasses :class:`autometa.Regularizer`; it is built as
    ``cls(options)`` and attached to a learner, which calls its inner-loss,
    outer-loss and before-meta-update methods.
    """


@hookspec
def register_pruners() -> list[type]:
    """Pruning methods, structured (physically smaller) or unstructured.

    Each class subclasses :class:`autometa.Pruner`; it is built as
    ``cls(options)`` and prunes a deployable predictor in place of a copy.
    """


@hookspec
def register_distillers() -> list[type]:
    """Knowledge distillation from a teacher predictor into a student on episodes.

    Each class subclasses :class:`autometa.Distiller`; it is built as
    ``cls(options)``.
    """


@hookspec
def register_quantizers() -> list[type]:
    """Post-training quantization of a deployable predictor.

    Each class subclasses :class:`autometa.Quantizer`; it is built as
    ``cls(options)``.
    """


@hookspec
def register_exporters() -> list[type]:
    """Export formats for the deployable few-shot predictor (``.pt2``, ONNX, ...).

    Each class subclasses :class:`autometa.Exporter`; it is built as
    ``cls(options)``, writes the traced predictor (one ``torch.export`` program of
    forward ops, shared by every format) to a file that loads without autometa,
    can refuse up front what its format cannot express (``check``), and can load
    the file back for verification.
    """


@hookspec
def register_observers() -> list[type]:
    """Observers a recipe switches on under ``search.observers`` (trackers, loggers).

    Each class subclasses :class:`autometa.Observer`; it is built as
    ``cls(options)`` in each process that runs trials, and its methods are called
    on the events the observer hooks below receive.
    """


@hookspec
def search_started(study: Any, recipe: Any, run_dir: Any) -> None:
    """A search begins: ``study`` is the ``optuna.Study``, ``recipe`` the resolved
    :class:`autometa.recipe.Recipe`, ``run_dir`` the run directory (``pathlib.Path``)."""


@hookspec
def trial_started(trial: Any, strategy: Any) -> None:
    """A trial begins: ``trial`` is the ``optuna.Trial``, ``strategy`` the concrete
    :class:`autometa.recipe.Strategy` it will train."""


@hookspec
def trial_finished(trial: Any, state: str, values: Any, reason: str | None, metrics: dict) -> None:
    """A trial ended: ``state`` is ``"complete"``, ``"pruned"`` or ``"failed"``,
    ``values`` its objective value(s) (None unless complete), ``reason`` why it was
    pruned or failed, ``metrics`` what its ``metrics.json`` holds (``val``, ``history``
    with the ``train`` and ``val`` curves, ``duration_s``, ...)."""


@hookspec
def search_finished(study: Any, run_dir: Any, summary: Any) -> None:
    """A search ended (finished, interrupted or timed out); ``study`` holds every trial,
    ``summary`` is the :class:`autometa.search.SearchSummary` (``best``, ``test`` scores)."""

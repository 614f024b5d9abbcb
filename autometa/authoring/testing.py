"""Helpers for plugin authors' own test suites: check a plugin, export it, run it in a tiny search.

A plugin's test suite typically holds these tests (``autometa plugins new``
generates them)::

    from autometa.authoring.testing import assert_exports, assert_plugin_ok, run_tiny_search

    def test_plugin_passes_autometa_checks():
        assert_plugin_ok("autometa-my-learner")          # the distribution name

    def test_plugin_predictor_exports_with_every_installed_exporter(tmp_path):
        assert_exports(tmp_path, {"learner": "my_learner"})

    def test_plugin_runs_in_a_search(tmp_path):
        summary = run_tiny_search(tmp_path, {"learner": "my_learner"})
        assert summary.counts()["complete"] == 1

:func:`run_tiny_search` puts each named component where its kind belongs in a
recipe (``learner`` under ``strategy``, ``pruner`` under ``compression``, ...),
fills the rest with built-ins and a seconds-long budget, and runs the real
``autometa search`` on it. Unless the components include a data set, it runs on
:class:`TinyPatterns`, a synthetic data set small enough for a unit test.
:func:`assert_exports` runs the search's export pre-flight on that recipe with
every installed exporter: the strategy's predictor, untrained, is exported to
each format and its logits verified.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml
from pydantic import Field

from autometa.authoring.check import check_plugins
from autometa.components.component import PluginOptions
from autometa.data.dataset import Dataset, ImageClasses, Preprocessing, SplitData
from autometa.data.loading import load_data
from autometa.deploy.preflight import preflight
from autometa.errors import AutometaError
from autometa.plugins.hookspecs import hookimpl
from autometa.plugins.host import PluginHost, default_host
from autometa.plugins.kinds import KINDS, place
from autometa.recipe.schema import Recipe
from autometa.search.run import run_search
from autometa.search.summary import SearchSummary

#: The plugin name under which :class:`TinyPatterns` is registered while a tiny search runs.
TESTING_PLUGIN = "autometa.testing"
#: The learner a tiny search uses to exercise an inner optimizer or an inner-loop regularizer.
GRADIENT_LEARNER = "maml"


class TinyPatterns(Dataset):
    """Synthetic few-shot data for unit tests: each class is a random pattern plus noise."""

    name: ClassVar[str] = "tiny_patterns"

    class Options(PluginOptions):
        classes: tuple[int, int, int] = Field((8, 4, 4), description="classes in meta-train, meta-val, meta-test")
        images_per_class: int = Field(6, ge=2, description="noisy instances of each class pattern")
        image_size: int = Field(16, ge=8, description="side of the square grayscale images")
        seed: int = Field(0, description="seed of the patterns and the noise")

    def load(self, cache_dir: Path) -> SplitData:
        o = self.options
        generator = torch.Generator().manual_seed(o.seed)
        splits = []
        first = 0
        for split, count in zip(("train", "val", "test"), o.classes):
            patterns = torch.rand(count, 1, 1, o.image_size, o.image_size, generator=generator)
            noise = torch.randn(count, o.images_per_class, 1, o.image_size, o.image_size, generator=generator)
            images = ((patterns + 0.15 * noise).clamp(0, 1) * 255).to(torch.uint8)
            names = [f"pattern{first + c:03d}" for c in range(count)]
            splits.append(ImageClasses.from_classes([(n, split, imgs) for n, imgs in zip(names, images)]))
            first += count
        return SplitData(*splits, preprocessing=Preprocessing(channels=1, image_size=o.image_size, ink="n/a"))


@hookimpl
def register_datasets() -> list[type]:
    return [TinyPatterns]


def tiny_recipe(components: Mapping[str, Any] = {}, *, name: str = "tiny", trials: int = 1) -> dict[str, Any]:
    """A recipe (as a dict) that trains for seconds, with ``components`` placed by kind.

    ``components`` maps a kind (``"dataset"``, ``"backbone"``, ``"learner"``,
    ``"inner_optimizer"``, ``"regularizer"``, ``"pruner"``, ``"distiller"``,
    ``"quantizer"``, ``"exporter"``) to a component reference: a name, or
    ``{name: {options}}``. An inner optimizer goes into the learner's
    ``inner_optimizer`` option; with an inner optimizer or a regularizer but no
    learner, the learner is MAML with one inner step, so the inner loop runs.
    """
    unknown = set(components) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown component kind(s) {sorted(unknown)}; use one of {sorted(KINDS)}")
    recipe: dict[str, Any] = {
        "name": name,
        "seed": 0,
        "device": "cpu",
        "data": {"dataset": TinyPatterns.name},
        "evaluation": {"ways": 2, "shots": 1, "queries": 2, "val_episodes": 4, "test_episodes": 4},
        "strategy": {
            "learner": "protonet",
            "backbone": {"conv4": {"width": 8, "depth": 2}},
            "train_episodes": {"ways": 2, "shots": 1, "queries": 2},
            "meta_batch_size": 2,
        },
        "training": {"meta_steps": 2, "eval_every": 2, "checkpoint_every": 2},
        "search": {"trials": trials, "sampler": "random", "pruner": "none", "wilcoxon": False},
    }
    if {"inner_optimizer", "regularizer"} & set(components) and "learner" not in components:
        recipe["strategy"]["learner"] = {GRADIENT_LEARNER: {"inner_steps": 1}}  # one that runs an inner loop
    for kind in sorted(components, key=list(KINDS).index):  # the learner before its inner optimizer
        place(recipe, KINDS[kind], components[kind])
    return recipe


def run_tiny_search(
    directory: Path, components: Mapping[str, Any] = {}, *, trials: int = 1, export: Sequence[str] = (),
) -> SearchSummary:
    """Write :func:`tiny_recipe` to ``directory`` and run ``autometa search`` on it, with the
    plugins the ``autometa`` command sees (your installed plugin among them).

    ``export`` adds exporters to ``export.formats`` (e.g. :func:`installed_exporters`).
    Returns the :class:`autometa.search.SearchSummary`; the run directory is
    ``directory/runs/tiny`` (with ``artifacts/`` when a compression stage or exporter
    ran). Fails with each trial's reason and log file if a trial did not complete.
    """
    plugins = default_host()
    directory = Path(directory)
    recipe = tiny_recipe(components, trials=trials)
    recipe["output_dir"] = str(directory / "runs")
    recipe["data"]["cache_dir"] = str(directory / "cache")
    formats = recipe.setdefault("export", {}).setdefault("formats", [])
    formats += [name for name in export if name not in formats]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    with _testing_data(plugins):
        summary = run_search(path, plugins, storage=None, workers=1, quiet=True, as_json=False)
    failed = [t for t in summary.trials if t.state != "complete"]
    if failed:
        raise AssertionError("\n".join(
            f"trial {t.number} {t.state}: {t.reason} (log: {summary.run_dir / 'trials' / str(t.number) / 'log.txt'})"
            for t in failed
        ))
    return summary


def assert_plugin_ok(name: str) -> None:
    """Fail with every problem ``autometa plugins check NAME`` finds (NAME: plugin or distribution)."""
    problems = check_plugins(default_host(), name)
    if problems:
        raise AssertionError("autometa plugins check found:\n" + "\n".join(map(str, problems)))


def installed_exporters() -> list[str]:
    """The names of every exporter the ``autometa`` command sees (``torch_export``, ``onnx``, yours...)."""
    return default_host().registry.names("exporter")


def assert_exports(directory: Path, components: Mapping[str, Any] = {}) -> None:
    """Fail, with the pre-flight's one-line reason, unless the predictor of :func:`tiny_recipe`'s strategy
    (untrained) exports with every installed exporter and each file's logits match it.

    What the search's export pre-flight does before training, for every format at
    once: a component that puts an operation a format lacks into the predictor (a
    linear solve, ``cdist``, a layer whose gradient has no forward-op rewrite) is
    named here, not after a search.
    """
    plugins = default_host()
    recipe = Recipe.model_validate({**tiny_recipe(components), "export": {"formats": installed_exporters()}})
    recipe.data.cache_dir = Path(directory) / "cache"
    with _testing_data(plugins):
        data = load_data(recipe.data, plugins.registry)
        try:
            preflight(recipe, data.preprocessing, plugins.registry)
        except AutometaError as exc:
            raise AssertionError(str(exc)) from exc


@contextmanager
def _testing_data(plugins: PluginHost) -> Iterator[None]:
    """:class:`TinyPatterns` registered while the block runs."""
    plugins.register(sys.modules[__name__], TESTING_PLUGIN, "autometa (testing)")
    try:
        yield
    finally:
        plugins.unregister(TESTING_PLUGIN)

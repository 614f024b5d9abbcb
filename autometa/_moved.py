"""Old import paths keep working for now, with a DeprecationWarning naming the new one.

autometa 0.1 had 27 flat modules; they now live in packages (docs/architecture.md).
``import autometa.inner_loop`` (or ``from autometa.inner_loop import X``) still
works: a finder on ``sys.meta_path`` answers each old name in :data:`MOVED` with
the module that holds its contents now, once, with a warning, as Optuna keeps
deprecated paths alive for a few releases.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: Old module path -> the module whose public names cover it now.
MOVED: dict[str, str] = {
    "autometa.hookspecs": "autometa.plugins.hookspecs",
    "autometa.episodes": "autometa.data",
    "autometa.transforms": "autometa.data.transforms",
    "autometa.image_files": "autometa.data.image_files",
    "autometa.networks": "autometa.learning.backbone",
    "autometa.learners": "autometa.learning",
    "autometa.inner_loop": "autometa.learning",
    "autometa.regularizers": "autometa.learning.regularizer",
    "autometa.device": "autometa.learning.device",
    "autometa.evaluation": "autometa.learning.evaluation",
    "autometa.trainer": "autometa.learning",
    "autometa.compression": "autometa.deploy",
    "autometa.objectives": "autometa.search.objectives",
    "autometa.space": "autometa.recipe.space",
    "autometa.run_directory": "autometa.search.run_directory",
    "autometa.search_view": "autometa.search.view",
    "autometa.search_report": "autometa.search.report",
    "autometa.plugin_check": "autometa.authoring.check",
    "autometa.scaffold": "autometa.authoring.scaffold",
    "autometa.testing": "autometa.authoring.testing",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module path with the new module (the same object, so its names are shared)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(name, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} is deprecated; import from {new} (or the plugin API: 'from autometa import ...')",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The module is the new one, already executed."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())

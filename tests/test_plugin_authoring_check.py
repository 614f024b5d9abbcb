"""`autometa plugins check`: broken third-party plugins are named, one line each, and
`autometa plugins list` keeps working for everybody else."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autometa import hookimpl
from autometa.authoring.check import check_component, check_plugins, hook_specs, inspect_hooks
from autometa.cli import app
from autometa.components import Component, PluginOptions
from autometa.errors import PluginError
from autometa.plugins import BUILTIN_DISTRIBUTION, DISABLE_AUTOLOAD_ENV, KINDS, default_host

GOOD_BACKBONE = '''
from pydantic import Field
from torch import nn
from autometa.components import PluginOptions
from autometa import hookimpl
from autometa import Backbone


class Flat(Backbone):
    """Flattens the image: the simplest possible backbone."""

    name = "{name}"

    class Options(PluginOptions):
        scale: float = Field(1.0, gt=0, description="multiplies every pixel")

    def __init__(self, options, in_channels, image_size):
        super().__init__(options, in_channels, image_size)
        self.out_features = in_channels * image_size * image_size

    def forward(self, x):
        return x.flatten(1) * self.options.scale


@hookimpl
def register_backbones():
    return [Flat]
'''


def _install(root: Path, distribution: str, module: str, source: str) -> None:
    """A fake installed distribution: the module plus a .dist-info with its entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{distribution.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[autometa]\n{module} = {module}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path acting as site-packages; the plugin manager reloads from it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    importlib.invalidate_caches()
    default_host().reset()
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("plug_")]:
        del sys.modules[name]
    default_host().reset()


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_broken_plugins_are_reported_one_line_each_and_list_still_works(site):
    _install(site, "plug-good", "plug_good", GOOD_BACKBONE.format(name="flat"))
    _install(site, "plug-misspelt", "plug_misspelt", """
        from autometa import hookimpl

        @hookimpl
        def register_backbone():
            return []
    """)
    _install(site, "plug-signature", "plug_signature", """
        from autometa import hookimpl

        @hookimpl
        def register_learners(registry):
            return []
    """)
    _install(site, "plug-clash", "plug_clash", GOOD_BACKBONE.format(name="flat"))
    _install(site, "plug-broken", "plug_broken", "import no_such_module_anywhere\n")

    result = _run("plugins", "check")
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert all(line.startswith("problem: plugin '") for line in lines), lines
    text = result.output
    assert "plugin 'plug_misspelt' (plug-misspelt 0.1): 'register_backbone' is not an autometa hook; " \
        "did you mean 'register_backbones'?" in text
    assert "plugin 'plug_signature' (plug-signature 0.1): hook 'register_learners' takes 'registry'" in text
    assert "already registered by plugin" in text and "backbone 'flat'" in text
    assert "plugin 'plug_broken' (plug-broken 0.1): failed to import" in text
    assert "cannot be registered" not in text  # pluggy's multi-line refusal is replaced by our diagnosis

    listing = _run("plugins", "list", "--json")
    assert listing.exit_code == 0, listing.output
    names = {(c["kind"], c["name"]) for c in json.loads(listing.output)["components"]}
    assert ("backbone", "flat") in names and ("backbone", "conv4") in names

    only = _run("plugins", "check", "plug-good")
    assert only.exit_code == 0, only.output
    assert _run("plugins", "check", "plug-misspelt").exit_code == 1


def test_check_of_an_unknown_name_suggests_the_close_one(site):
    _install(site, "plug-good", "plug_good", GOOD_BACKBONE.format(name="flat"))
    result = _run("plugins", "check", "plug-god")
    assert isinstance(result.exception, PluginError)  # main() prints it as one line, exit code 2
    assert "did you mean 'plug-good'?" in str(result.exception)


def test_hooks_without_decorator_or_with_unknown_names_are_flagged():
    class Plugin:
        def register_learners(self):  # forgot @hookimpl
            return []

        @hookimpl
        def on_trial_done(self):  # not a hook at all
            return None

        @hookimpl(specname="register_regularizers")
        def my_regularizers(self):  # fine: specname names the hook
            return []

        def helper(self):  # an ordinary method is left alone
            return None

    messages = inspect_hooks(Plugin())
    assert len(messages) == 2, messages
    assert "'register_learners' is not decorated with @hookimpl" in messages[1]
    assert "'on_trial_done' is marked @hookimpl but is not an autometa hook" in messages[0]


def test_component_checks_name_base_class_options_defaults_and_descriptions():
    from pydantic import BaseModel, Field

    from autometa import Regularizer

    class Fine(Regularizer):
        """Does nothing, correctly."""

        name = "fine"

        class Options(PluginOptions):
            strength: float = Field(0.1, ge=0, description="how strongly")

    class Sloppy(Regularizer):
        name = "sloppy"

        class Options(PluginOptions):
            strength: float = Field(-1.0, ge=0)

    class Loose(Regularizer):
        """Options accept anything."""

        name = "loose"

        class Options(BaseModel):
            strength: float = 0.1

    class NotARegularizer(Component):
        """Wrong base class."""

        name = "wrong"

    assert check_component("regularizer", Fine) == []
    sloppy = check_component("regularizer", Sloppy)
    assert any("has no docstring" in m for m in sloppy)
    assert any("option 'strength' has no description" in m for m in sloppy)
    assert any("default of option 'strength' is invalid" in m for m in sloppy)
    assert check_component("regularizer", Loose) == [
        "regularizer 'loose': Options must subclass autometa.PluginOptions "
        "(so unknown keys are errors)"
    ]
    assert check_component("regularizer", NotARegularizer) == [
        "regularizer class 'NotARegularizer' must subclass autometa.Regularizer"
    ]


def test_hook_specs_lists_every_register_hook():
    specs = hook_specs()
    assert {kind.hook for kind in KINDS.values()} <= set(specs)
    assert list(specs["trial_finished"].parameters) == ["trial", "state", "values", "reason", "metrics"]


def test_imported_helpers_that_resemble_hooks_are_not_flagged():
    import types


    module = types.ModuleType("plug_helpers")
    exec(
        "from autometa.data.dataset import split_by_group as register_learner\n"
        "def register_optimizers():\n"
        "    return []\n",
        module.__dict__,
    )
    assert module.register_learner.__module__ == "autometa.data.dataset"
    assert inspect_hooks(module) == [
        "'register_optimizers' is not an autometa hook; did you mean 'register_inner_optimizers'?"
    ]


def test_builtin_plugins_pass_their_own_check(monkeypatch):
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")  # autometa's own plugins only
    default_host().reset()
    try:
        assert [str(p) for p in check_plugins(default_host(), BUILTIN_DISTRIBUTION)] == []
    finally:
        default_host().reset()
